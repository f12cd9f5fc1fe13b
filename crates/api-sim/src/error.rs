/// Everything that can stop the simulator from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },

    /// The server thread or runtime.
    #[error("cannot start the server")]
    Runtime(#[source] std::io::Error),

    /// Answer-key mode could not load the project.
    #[error("answer key: {0}")]
    AnswerKey(String),

    /// A configuration value out of range.
    #[error("{name}: {message}")]
    Config {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}
