//! Rendering the pages from what [`gather`](crate::gather) collected, and writing the site:
//! pages and errors CSVs go into a temporary folder beside `reports/{timestamp}/`, which is
//! renamed into place only when every file is written.

use std::path::{Path, PathBuf};

use agreement::LlmComparison;
use analysis::errors::ErrorsReport;
use annotation::analysis::{FieldAnalysis, FieldStats};
use judge::history::RecordedJudgeRun;
use minijinja::{AutoEscape, Environment, Value};
use serde::Serialize;

use crate::build::{AnnotationData, CompareData, Gathered, ModuleData};
use crate::svg::{self, Bar, Point, Rate};
use crate::{Error, Options, Progress, Result};

const CSS: &str = include_str!("../templates/report.css");
const JS: &str = include_str!("../templates/report.js");

/// Slices listed on a module page.
pub const SHOWN_SLICES: usize = 15;

/// One row of a page's errors table, as read back from the errors file the analysis wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorLine {
    /// Dataset record id.
    pub record_id: String,
    /// The keyword.
    pub keyword: String,
    /// Expected answer.
    pub expected: String,
    /// The model's answer.
    pub predicted: String,
    /// Its confidence, as written.
    pub confidence: String,
    /// FP, FN, mismatch or errored.
    pub kind: String,
    /// The model's reasoning.
    pub reasoning: String,
    /// Missing items (list modules), `; `-separated.
    pub missing: String,
    /// Extra items (list modules), `; `-separated.
    pub extra: String,
    /// The error of an errored row.
    pub error: String,
}

/// One rendered page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// File name inside the report folder (`index.html`, `m12.html`, `compare.html`).
    pub file: String,
    /// The module it is about, for module pages.
    pub module: Option<String>,
    /// The HTML.
    #[serde(skip)]
    pub html: String,
}

/// The report written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Written {
    /// The report's folder (`reports/{timestamp}`).
    pub dir: PathBuf,
    /// Its `index.html`.
    pub index: PathBuf,
    /// Every file written, with its size in bytes, in writing order.
    pub files: Vec<(String, u64)>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn fixed(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

fn ci_text(ci: Option<[f64; 2]>) -> String {
    ci.map_or_else(
        || "–".to_owned(),
        |[l, h]| format!("{} – {}", pct(Some(l)), pct(Some(h))),
    )
}

fn pvalue(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn safe(svg: String) -> Value {
    Value::from_safe_string(svg)
}

/// The file name of a module's page.
fn page_of(module: &str) -> String {
    format!("{module}.html")
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Every template escapes HTML, whatever its name.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("index.html", include_str!("../templates/index.html")),
        ("module.html", include_str!("../templates/module.html")),
        ("compare.html", include_str!("../templates/compare.html")),
    ] {
        env.add_template(name, source)
            .expect("the embedded templates parse (tested)");
    }
    env.add_global("css", Value::from_safe_string(CSS.to_owned()));
    env.add_global("js", Value::from_safe_string(JS.to_owned()));
    env
}

#[derive(Serialize)]
struct NavItem {
    module: String,
    page: String,
}

/// Renders every page: the index, one page per module, and the comparison when asked for.
/// `errors_rows` holds each module's embedded errors-table rows (at most `options.max_rows`),
/// `generated` the time shown on the pages.
///
/// # Errors
/// [`Error::Template`] when a page fails to render.
pub fn render_pages(
    gathered: &Gathered,
    errors_rows: &[Vec<ErrorLine>],
    options: &Options,
    generated: &str,
) -> Result<Vec<Page>> {
    let env = environment();
    let nav: Vec<NavItem> = gathered
        .modules
        .iter()
        .map(|m| NavItem {
            module: m.run.module.clone(),
            page: page_of(&m.run.module),
        })
        .collect();
    let common = minijinja::context! {
        nav => nav,
        generated => generated,
        has_compare => gathered.compare.is_some(),
    };
    let render = |name: &str, page: &str, ctx: Value| -> Result<String> {
        env.get_template(name)
            .and_then(|t| t.render(minijinja::context! { ..ctx, ..common.clone() }))
            .map_err(|source| Error::Template {
                page: page.to_owned(),
                source,
            })
    };
    let mut pages = vec![Page {
        file: "index.html".to_owned(),
        module: None,
        html: render("index.html", "index.html", index_context(gathered))?,
    }];
    for (module, rows) in gathered.modules.iter().zip(errors_rows) {
        let file = page_of(&module.run.module);
        let ctx = module_context(module, rows, options.max_rows);
        pages.push(Page {
            html: render("module.html", &file, ctx)?,
            file,
            module: Some(module.run.module.clone()),
        });
    }
    if let Some(compare) = &gathered.compare {
        pages.push(Page {
            file: "compare.html".to_owned(),
            module: Some(compare.module.clone()),
            html: render(
                "compare.html",
                "compare.html",
                compare_context(compare, options.max_rows),
            )?,
        });
    }
    Ok(pages)
}

#[derive(Serialize)]
struct IndexRow {
    module: String,
    name: String,
    page: String,
    rows: u64,
    accuracy: String,
    accuracy_sort: f64,
    ci_svg: Value,
    ci_text: String,
    macro_f1: String,
    mcc: String,
    errored: u64,
    cost: String,
    model: String,
    prompt_version: String,
    date: String,
    spark_svg: Value,
    under: bool,
}

#[derive(Serialize)]
struct PathRow {
    module_a: String,
    module_b: String,
    joined: u64,
    only_a: u64,
    only_b: u64,
    kappa: String,
    kappa_ci: String,
    accuracy_a: String,
    accuracy_b: String,
    right_a_wrong_b: u64,
    wrong_a_right_b: u64,
    mcnemar_p: String,
    file: String,
}

fn cost(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |c| format!("${c:.4}"))
}

fn index_context(gathered: &Gathered) -> Value {
    let b = &gathered.baseline;
    let modules: Vec<IndexRow> = b
        .modules
        .iter()
        .map(|line| {
            let history: Vec<f64> = gathered
                .modules
                .iter()
                .find(|m| m.run.module == line.module)
                .map(|m| m.history.iter().filter_map(|h| h.accuracy).collect())
                .unwrap_or_default();
            let ci_svg = match (line.accuracy, line.accuracy_ci95) {
                (Some(a), Some(ci)) => svg::interval(&format!("{} accuracy", line.module), a, ci),
                _ => String::new(),
            };
            IndexRow {
                module: line.module.clone(),
                name: gathered
                    .modules
                    .iter()
                    .find(|m| m.run.module == line.module)
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
                page: page_of(&line.module),
                rows: line.rows,
                accuracy: pct(line.accuracy),
                accuracy_sort: line.accuracy.unwrap_or(-1.0),
                ci_svg: safe(ci_svg),
                ci_text: ci_text(line.accuracy_ci95),
                macro_f1: fixed(line.macro_f1),
                mcc: fixed(line.mcc),
                errored: line.errored,
                cost: cost(line.cost_usd),
                model: line.model.clone().unwrap_or_default(),
                prompt_version: line.prompt_version.clone().unwrap_or_default(),
                date: line.date.clone().unwrap_or_default(),
                spark_svg: safe(svg::sparkline(
                    &format!("{} accuracy across {} runs", line.module, history.len()),
                    &history,
                )),
                under: b.under_threshold.contains(&line.module),
            }
        })
        .collect();
    let paths: Vec<PathRow> = b
        .paths
        .iter()
        .map(|p| {
            let c = &p.comparison;
            PathRow {
                module_a: p.module_a.clone(),
                module_b: p.module_b.clone(),
                joined: c.joined,
                only_a: c.only_a,
                only_b: c.only_b,
                kappa: c.kappa.map_or_else(
                    || c.kappa_undefined.clone().unwrap_or_default(),
                    |k| format!("{k:.3}"),
                ),
                kappa_ci: c
                    .kappa_ci95
                    .map_or_else(|| "–".to_owned(), |[l, h]| format!("{l:.3} – {h:.3}")),
                accuracy_a: pct(c.accuracy_a),
                accuracy_b: pct(c.accuracy_b),
                right_a_wrong_b: c.right_a_wrong_b,
                wrong_a_right_b: c.wrong_a_right_b,
                mcnemar_p: pvalue(c.mcnemar_p),
                file: c.disagreements_file.clone().unwrap_or_default(),
            }
        })
        .collect();
    minijinja::context! {
        threshold => format!("{:.0}%", b.threshold * 100.0),
        total => minijinja::context! {
            modules => b.total.modules,
            rows => b.total.rows,
            scored => b.total.scored,
            errored => b.total.errored,
            accuracy => pct(b.total.accuracy),
            cost => cost(b.total.cost_usd),
        },
        modules => modules,
        paths => paths,
        recommendations => b.recommendations,
    }
}

#[derive(Serialize)]
struct ErrorView<'a> {
    record_id: &'a str,
    keyword: &'a str,
    expected: &'a str,
    predicted: &'a str,
    confidence: &'a str,
    kind: &'a str,
    reasoning: &'a str,
    error: &'a str,
    missing: &'a str,
    extra: &'a str,
}

fn label_bars(errors: &ErrorsReport) -> String {
    let mut items = Vec::new();
    for (label, f) in &errors.per_label {
        for (what, value, tone) in [
            ("precision", f.precision, "p"),
            ("recall", f.recall, "r"),
            ("F1", f.f1, "f"),
        ] {
            items.push(Bar {
                label: format!("{label} {what}"),
                value,
                tone,
            });
        }
    }
    svg::bars(
        &format!("{}: precision, recall and F1 per label", errors.module),
        &items,
    )
}

// long: one flat context of a module page; splitting it would only move the fields around.
fn module_context(m: &ModuleData, rows: &[ErrorLine], max_rows: usize) -> Value {
    let e = &m.errors;
    let heatmap = (!e.labels.is_empty()).then(|| {
        svg::heatmap(
            &format!("{}: confusion matrix (expected × predicted)", e.module),
            "expected",
            "predicted",
            &e.labels,
            &e.confusion_matrix,
        )
    });
    let per_label: Vec<Value> = e
        .per_label
        .iter()
        .map(|(label, f)| {
            minijinja::context! {
                label => label,
                support => f.support,
                predicted => f.predicted,
                precision => fixed(f.precision),
                recall => fixed(f.recall),
                f1 => fixed(f.f1),
            }
        })
        .collect();
    let lists: Vec<Value> = e
        .lists
        .iter()
        .map(|l| {
            minijinja::context! {
                field => l.field, rows => l.rows, precision => fixed(Some(l.precision)),
                recall => fixed(Some(l.recall)), f1 => fixed(Some(l.f1)),
                jaccard => fixed(Some(l.jaccard)), missing_items => l.missing_items,
                extra_items => l.extra_items,
            }
        })
        .collect();
    let points: Vec<Point> = m
        .history
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            #[expect(clippy::cast_precision_loss, reason = "few runs")]
            let x = i as f64;
            h.accuracy.map(|y| Point {
                x,
                y,
                label: format!(
                    "run {} ({}, prompt {}, {})",
                    i + 1,
                    h.id,
                    h.prompt_version,
                    h.model
                ),
                tick: format!("{} · {}", h.prompt_version, h.model),
            })
        })
        .collect();
    // Each run gets a slot of width 1 centred on its index, so one run sits in the middle.
    #[expect(clippy::cast_precision_loss, reason = "few runs")]
    let span = m.history.len().max(1) as f64 - 0.5;
    let history_svg = svg::line(
        &format!("{}: accuracy across {} runs", e.module, points.len()),
        "run (oldest first)",
        "accuracy",
        &points,
        (-0.5, span),
        false,
    );
    let history: Vec<Value> = m
        .history
        .iter()
        .map(|h| {
            minijinja::context! {
                id => h.id, date => h.created_at, prompt_version => h.prompt_version,
                model => h.model, accuracy => pct(h.accuracy),
            }
        })
        .collect();
    let cal = &m.patterns.calibration;
    let cal_points: Vec<Point> = cal
        .bins
        .iter()
        .filter_map(|b| {
            b.accuracy.map(|y| Point {
                x: b.mean_confidence.unwrap_or((b.low + b.high) / 2.0),
                y,
                label: format!("confidence {:.1}–{:.1}, {} rows", b.low, b.high, b.rows),
                tick: String::new(),
            })
        })
        .collect();
    let calibration_svg = (!cal_points.is_empty()).then(|| {
        svg::line(
            &format!("{}: calibration (confidence decile → accuracy)", e.module),
            "confidence",
            "accuracy",
            &cal_points,
            (0.0, 1.0),
            true,
        )
    });
    let calibration: Vec<Value> = cal
        .bins
        .iter()
        .filter(|b| b.rows > 0)
        .map(|b| {
            minijinja::context! {
                range => format!("{:.1} – {:.1}", b.low, b.high), rows => b.rows,
                mean => fixed(b.mean_confidence), accuracy => pct(b.accuracy),
            }
        })
        .collect();
    let slices: Vec<Value> = m
        .patterns
        .slices
        .iter()
        .take(SHOWN_SLICES)
        .map(|s| {
            minijinja::context! {
                feature => s.feature, value => s.value, rows => s.rows, errors => s.errors,
                error_rate => pct(Some(s.error_rate)), error_rate_sort => s.error_rate,
                lift => s.lift.map_or_else(|| "–".to_owned(), |l| format!("{l:.2}")),
                p => pvalue(s.p_value), q => pvalue(s.q_value),
            }
        })
        .collect();
    let errors: Vec<ErrorView<'_>> = rows
        .iter()
        .map(|r| ErrorView {
            record_id: &r.record_id,
            keyword: &r.keyword,
            expected: &r.expected,
            predicted: &r.predicted,
            confidence: &r.confidence,
            kind: &r.kind,
            reasoning: &r.reasoning,
            error: &r.error,
            missing: &r.missing,
            extra: &r.extra,
        })
        .collect();
    minijinja::context! {
        module => e.module,
        name => m.name,
        run => m.run.name,
        model => m.run.model,
        prompt_version => m.run.prompt_version,
        date => m.run.created_at,
        rescored => e.rescored,
        f => minijinja::context! {
            rows => e.rows, scored => e.scored, accuracy => pct(e.accuracy),
            ci => ci_text(e.accuracy_ci95), macro_f1 => fixed(e.macro_f1),
            micro_f1 => fixed(e.micro_f1), mcc => fixed(e.mcc),
            error_count => e.error_count, errored => e.errored,
        },
        binary => e.binary.as_ref().map(|b| minijinja::context! {
            positive => b.positive, tp => b.tp, tn => b.tn, fp => b.fp, fn => b.r#fn,
        }),
        heatmap_svg => heatmap.map(safe),
        per_label_svg => safe(label_bars(e)),
        per_label => per_label,
        lists => lists,
        history_svg => safe(history_svg),
        history => history,
        calibration_svg => calibration_svg.map(safe),
        calibration => calibration,
        calibration_rows => cal.rows,
        ece => fixed(cal.ece),
        slices => slices,
        slices_tested => m.patterns.slices.len(),
        errors => errors,
        errors_shown => rows.len(),
        errors_in_file => e.error_count + e.errored,
        errors_capped => e.error_count + e.errored > rows.len() as u64 && rows.len() >= max_rows,
        errors_csv => errors_csv_name(&e.module),
        annotations => m.annotations.iter().map(annotation_context).collect::<Vec<_>>(),
        judges => m.judges.iter().map(|j| judge_context(m, j)).collect::<Vec<_>>(),
        judge_rubric => m.judge_rubric,
    }
}

/// A kappa or AC1 as written in the validation line.
fn agreement_figure(v: Option<f64>) -> String {
    v.map_or_else(|| "undefined".to_owned(), |v| format!("{v:.3}"))
}

/// The validation status of a judge run's judge: `validated`, `failed validation` or
/// `not validated`, with the figures recorded by `calculate-agreement analyze`.
fn judge_validation(j: &RecordedJudgeRun) -> Value {
    let Some(check) = &j.validation else {
        return minijinja::context! {
            status => "not validated",
            tone => "none",
            figures => Value::from(()),
            command => format!("generate-annotation-csv generate {} --judge {}", j.module, j.judge_run),
        };
    };
    let v = &check.recorded;
    let figures = format!(
        "judge vs the annotators' consensus: kappa {}, AC1 {} over {} items; annotator A vs B: kappa {}, AC1 {}",
        agreement_figure(v.judge_kappa),
        agreement_figure(v.judge_ac1),
        v.items.map_or_else(|| "–".to_owned(), |n| n.to_string()),
        agreement_figure(v.annotators_kappa),
        agreement_figure(v.annotators_ac1),
    );
    minijinja::context! {
        status => if v.validated { "validated" } else { "failed validation" },
        tone => if v.validated { "ok" } else { "bad" },
        figures => figures,
        sheet => v.sheet,
        checked_on => check.judge_run,
        same_run => check.judge_run == j.judge_run,
        command => Value::from(()),
    }
}

fn judge_context(m: &ModuleData, j: &RecordedJudgeRun) -> Value {
    let criteria: Vec<Value> = j
        .summary
        .iter()
        .flat_map(|s| &s.criteria)
        .map(|c| {
            minijinja::context! {
                id => c.id,
                rows => c.rows,
                passed => c.passed,
                pass_rate => pct(c.pass_rate),
                ci => ci_text(c.pass_rate_ci95),
                sample_agreement => c.sample_agreement.map(|a| pct(Some(a))),
                unstable_rows => c.unstable_rows,
            }
        })
        .collect();
    let rates_svg = j.summary.as_ref().map(|s| {
        let items: Vec<Rate> = s
            .criteria
            .iter()
            .map(|c| Rate {
                label: c.id.clone(),
                value: c.pass_rate,
                ci: c.pass_rate_ci95,
                note: format!("{} of {} rows pass", c.passed, c.rows),
            })
            .collect();
        safe(svg::rates(
            &format!(
                "{}: pass rate per criterion of judge run {} (Wilson 95% intervals)",
                j.module, j.judge_run
            ),
            &items,
        ))
    });
    let together: Vec<Value> = j
        .summary
        .iter()
        .flat_map(|s| &s.failing_together)
        .map(|f| {
            minijinja::context! {
                a => f.a, b => f.b, both => f.both, either => f.either,
                jaccard => format!("{:.2}", f.jaccard),
            }
        })
        .collect();
    let causes: Vec<Value> = j
        .summary
        .iter()
        .flat_map(|s| &s.error_causes)
        .map(|(cause, n)| minijinja::context! { cause => cause, rows => n })
        .collect();
    let this_run = m.run.id.as_deref() == Some(j.judged_run.as_str()) || m.run.name == j.judged_run;
    minijinja::context! {
        id => j.judge_run,
        judged => j.judged_run,
        this_run => this_run,
        model => j.model,
        date => j.created_at,
        rubric => j.rubric,
        rubric_hash => j.rubric_hash,
        samples => j.samples,
        aggregate => j.aggregate,
        errors_only => j.errors_only,
        file => j.judge_file,
        records => j.records,
        problem => j.problem,
        criteria => criteria,
        sampled => j.summary.as_ref().is_some_and(|s| s.criteria.iter().any(|c| c.sample_agreement.is_some())),
        rates_svg => rates_svg,
        together => together,
        causes => causes,
        validation => judge_validation(j),
    }
}

fn llm_row(against: &str, c: &LlmComparison) -> Value {
    minijinja::context! {
        against => against,
        rows => c.rows,
        kappa => fixed(c.cohen_kappa.as_ref().ok().copied()),
        agreement => pct(c.agreement.as_ref().ok().copied()),
    }
}

fn field_context(f: &FieldAnalysis) -> Value {
    let annotated = f.annotated_rows();
    if let FieldStats::Categorical(r) = &f.stats {
        let labels = r.confusion_matrix.categories().labels().to_vec();
        let counts: Vec<Vec<u64>> = r.confusion_matrix.rows().map(<[u64]>::to_vec).collect();
        let heatmap = svg::heatmap(
            &format!("{}: annotator A × annotator B", f.name),
            "annotator A",
            "annotator B",
            &labels,
            &counts,
        );
        let llm: Vec<Value> = r
            .llm_agreement
            .as_ref()
            .map(|l| {
                vec![
                    llm_row("annotator A", &l.vs_a),
                    llm_row("annotator B", &l.vs_b),
                    llm_row("consensus of A and B", &l.vs_consensus),
                ]
            })
            .unwrap_or_default();
        return minijinja::context! {
            name => f.name,
            annotated => annotated,
            kappa => r.cohen_kappa.as_ref().map_or_else(|u| format!("undefined ({u})"), |k| format!("{k:.3}")),
            kappa_ci => r.kappa_ci95.as_ref().map_or_else(|_| "–".to_owned(), |[l, h]| format!("{l:.3} – {h:.3}")),
            observed => pct(r.observed_agreement.as_ref().ok().copied()),
            heatmap_svg => safe(heatmap),
            llm => llm,
        };
    }
    let report = f.report();
    let metrics: Vec<Value> = report
        .metrics
        .iter()
        .filter_map(|(name, value)| {
            value.as_f64().map(|v| {
                minijinja::context! { name => name, value => format!("{v:.3}") }
            })
        })
        .collect();
    minijinja::context! {
        name => f.name,
        annotated => annotated,
        kappa => Value::from(()),
        metrics => metrics,
    }
}

fn annotation_context(a: &AnnotationData) -> Value {
    minijinja::context! {
        file => a.file,
        error => a.error,
        fields => a.fields.iter().map(field_context).collect::<Vec<_>>(),
    }
}

#[derive(Serialize)]
struct FlipView<'a> {
    record_id: &'a str,
    keyword: &'a str,
    expected: &'a str,
    output_a: &'a str,
    output_b: &'a str,
}

fn compare_context(c: &CompareData, max_rows: usize) -> Value {
    let r = &c.result;
    let run = |o: &registry::OpenedRun, counts: &registry::compare::RunCounts| {
        minijinja::context! {
            name => o.name(),
            model => o.model.clone().unwrap_or_default(),
            prompt_version => o.prompt_version.clone().unwrap_or_default(),
            date => o.created_at.clone().unwrap_or_default(),
            rows => counts.rows,
            errors => counts.errors,
        }
    };
    let flips = |id: &str, title: &str, rows: &[registry::compare::Flip]| {
        let shown: Vec<FlipView<'_>> = rows
            .iter()
            .take(max_rows)
            .map(|f| FlipView {
                record_id: &f.record_id,
                keyword: &f.keyword,
                expected: &f.expected,
                output_a: &f.output_a,
                output_b: &f.output_b,
            })
            .collect();
        minijinja::context! { id => id, title => title, total => rows.len(), rows => shown }
    };
    let accuracy_svg = svg::bars(
        &format!(
            "{}: accuracy of run A and run B on the paired rows",
            c.module
        ),
        &[
            Bar {
                label: "run A".to_owned(),
                value: r.accuracy_a,
                tone: "acc",
            },
            Bar {
                label: "run B".to_owned(),
                value: r.accuracy_b,
                tone: "acc",
            },
        ],
    );
    let labels: Vec<Value> = r
        .labels
        .iter()
        .map(|l| {
            minijinja::context! {
                label => l.label, rows => l.rows,
                accuracy_a => pct(Some(l.accuracy_a)), accuracy_b => pct(Some(l.accuracy_b)),
            }
        })
        .collect();
    minijinja::context! {
        module => c.module,
        field => c.field,
        a => run(&c.a, &r.a),
        b => run(&c.b, &r.b),
        paired => r.paired,
        accuracy_a => pct(r.accuracy_a),
        accuracy_b => pct(r.accuracy_b),
        difference => r.difference.map_or_else(|| "–".to_owned(), |d| format!("{:+.1} points", d * 100.0)),
        interval => r.interval.map_or_else(String::new, |i| format!(
            "{:.0}% bootstrap interval {:+.1} to {:+.1} points ({} resamples, seed {})",
            i.confidence * 100.0, i.low * 100.0, i.high * 100.0, i.resamples, i.seed
        )),
        right_to_wrong => r.mcnemar.right_to_wrong,
        wrong_to_right => r.mcnemar.wrong_to_right,
        mcnemar_p => pvalue(r.mcnemar.p_value),
        accuracy_svg => safe(accuracy_svg),
        labels => labels,
        flips => vec![
            flips("right-to-wrong", "Right in A, wrong in B", &r.right_to_wrong),
            flips("wrong-to-right", "Wrong in A, right in B", &r.wrong_to_right),
        ],
    }
}

/// The name of a module's full errors CSV inside the report folder.
#[must_use]
pub fn errors_csv_name(module: &str) -> String {
    format!("{module}_errors.csv")
}

/// Reads the first `max` rows of an errors file written by the analysis (cells unescaped).
fn first_error_rows(path: &Path, max: usize) -> Result<Vec<ErrorLine>> {
    use annotation::sheet::unescape_cell;
    let csv_error = |source| Error::ErrorsCsv {
        path: path.to_owned(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(csv_error)?;
    let mut out = Vec::new();
    for record in reader.records().take(max) {
        let record = record.map_err(csv_error)?;
        let cell = |i: usize| unescape_cell(record.get(i).unwrap_or("")).to_owned();
        out.push(ErrorLine {
            record_id: cell(0),
            keyword: cell(2),
            expected: cell(3),
            predicted: cell(4),
            confidence: cell(5),
            reasoning: cell(6),
            kind: cell(7),
            missing: cell(8),
            extra: cell(9),
            error: cell(10),
        });
    }
    Ok(out)
}

/// Writes the report in `reports` (the project's `reports/`, or `--out`) as `{timestamp}`
/// (`_2`, `_3`, … when taken):
/// the pages and each module's full errors CSV are written into a temporary folder that is
/// renamed into place at the end, so the folder is either complete or absent.
///
/// # Errors
/// When an errors file cannot be read back, a page rendered, or a file written.
pub fn write_site(
    reports: &Path,
    gathered: &Gathered,
    options: &Options,
    timestamp: &str,
    generated: &str,
    progress: &mut dyn Progress,
) -> Result<Written> {
    std::fs::create_dir_all(reports).map_err(|e| Error::io(reports, e))?;
    let tmp = reports.join(format!(".{timestamp}.tmp-{}", std::process::id()));
    let result = fill(&tmp, gathered, options, generated, progress);
    let files = match result {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let mut n = 1;
    loop {
        let name = if n == 1 {
            timestamp.to_owned()
        } else {
            format!("{timestamp}_{n}")
        };
        let dir = reports.join(name);
        if !dir.exists() {
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => {
                    return Ok(Written {
                        index: dir.join("index.html"),
                        dir,
                        files,
                    });
                }
                Err(e) if n > 100 => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    return Err(Error::io(&dir, e));
                }
                Err(_) => {}
            }
        }
        n += 1;
    }
}

fn fill(
    tmp: &Path,
    gathered: &Gathered,
    options: &Options,
    generated: &str,
    progress: &mut dyn Progress,
) -> Result<Vec<(String, u64)>> {
    std::fs::create_dir(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut files = Vec::new();
    let mut rows = Vec::new();
    for module in &gathered.modules {
        let name = errors_csv_name(&module.run.module);
        progress.step(&format!("copying {name}"));
        let to = tmp.join(&name);
        let bytes = std::fs::copy(&module.errors_csv, &to).map_err(|e| Error::io(&to, e))?;
        files.push((name, bytes));
        rows.push(first_error_rows(&module.errors_csv, options.max_rows)?);
    }
    for page in render_pages(gathered, &rows, options, generated)? {
        progress.step(&format!("writing {}", page.file));
        let path = tmp.join(&page.file);
        std::fs::write(&path, page.html.as_bytes()).map_err(|e| Error::io(&path, e))?;
        files.push((page.file, page.html.len() as u64));
    }
    Ok(files)
}

/// The `file://` URL of a local path (absolute), with the bytes a URL cannot carry
/// percent-encoded.
#[must_use]
pub fn file_url(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut url = String::from("file://");
    if !text.starts_with('/') {
        url.push('/');
    }
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(char::from(byte));
            }
            b'\\' => url.push('/'),
            _ => {
                use std::fmt::Write as _;
                let _ = write!(url, "%{byte:02X}");
            }
        }
    }
    url
}

/// The summary `analyze-results report` prints: each file written with its size, and the
/// report's URL. `shown` is the report folder as the user should read it.
#[must_use]
pub fn text(written: &Written, shown: &str) -> String {
    use std::fmt::Write as _;
    let mut out = format!("Report written to {shown}/\n");
    let width = written
        .files
        .iter()
        .map(|(f, _)| f.len())
        .max()
        .unwrap_or(0);
    for (file, bytes) in &written.files {
        #[expect(clippy::cast_precision_loss, reason = "file sizes are far below 2^52")]
        let kb = *bytes as f64 / 1024.0;
        let _ = writeln!(out, "  {file:<width$}  {kb:>9.1} KB");
    }
    let _ = writeln!(out, "\nOpen: {}", file_url(&written.index));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_encode_what_a_url_cannot_carry() {
        assert_eq!(
            file_url(Path::new("/tmp/my reports/20260101_000000/index.html")),
            "file:///tmp/my%20reports/20260101_000000/index.html"
        );
        assert_eq!(file_url(Path::new("/a/#b?.html")), "file:///a/%23b%3F.html");
    }

    #[test]
    fn every_template_parses_and_escapes() {
        let env = environment();
        for name in ["base.html", "index.html", "module.html", "compare.html"] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        let out = env
            .render_str("{{ x }}", minijinja::context! { x => "<b>&</b>" })
            .unwrap();
        assert_eq!(out, "&lt;b&gt;&amp;&lt;&#x2f;b&gt;");
    }
}
