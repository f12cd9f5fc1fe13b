"""OPTIONAL comparison script for `make bench-agreement` (not part of the toolkit).

Computes Cohen's kappa of an m12b annotation CSV the way a pandas + scikit-learn user would:
read the file, map the label spellings to R/S/C/N, drop rows where either annotator left the
cell empty, call sklearn.metrics.cohen_kappa_score. Prints `kappa <value>`.

Run by bench_agreement_csv.rs only when python3 with pandas and scikit-learn is installed.
"""

import sys

import pandas as pd
from sklearn.metrics import cohen_kappa_score

SPELLINGS = {
    "r": "R", "relevant": "R",
    "s": "S", "substitute": "S",
    "c": "C", "complementary": "C", "complement": "C",
    "n": "N", "not relevant": "N", "not_relevant": "N", "irrelevant": "N",
}


def main(path: str) -> None:
    columns = ["annotator_a_relevancy", "annotator_b_relevancy"]
    frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    a = frame[columns[0]].str.strip().str.lower().map(SPELLINGS)
    b = frame[columns[1]].str.strip().str.lower().map(SPELLINGS)
    both = a.notna() & b.notna()
    kappa = cohen_kappa_score(a[both], b[both], labels=["R", "S", "C", "N"])
    print(f"kappa {kappa!r}")


if __name__ == "__main__":
    main(sys.argv[1])
