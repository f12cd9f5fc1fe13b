//! A judge checked against two annotators: the figures equal an independent computation.

use std::collections::HashMap;

use judge::validate::{JudgedRow, read_judge_csv, validate, write_sheet};

/// Cohen's kappa and Gwet's AC1 of two pass/fail raters, from the textbook formulas.
fn reference(a: &[bool], b: &[bool]) -> (f64, f64) {
    let n = a.len() as f64;
    let po = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n;
    let pa = a.iter().filter(|x| **x).count() as f64 / n;
    let pb = b.iter().filter(|x| **x).count() as f64 / n;
    let pe = pa * pb + (1.0 - pa) * (1.0 - pb);
    let pi = f64::midpoint(pa, pb);
    let pe_ac1 = 2.0 * pi * (1.0 - pi);
    ((po - pe) / (1.0 - pe), (po - pe_ac1) / (1.0 - pe_ac1))
}

fn fill(sheet: &std::path::Path, a: &[bool], b: &[bool]) {
    let text = std::fs::read_to_string(sheet).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut writer = csv::Writer::from_path(sheet).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for (i, record) in reader.records().enumerate() {
        let mut cells: Vec<String> = record.unwrap().iter().map(str::to_owned).collect();
        let v = |p: bool| if p { "pass" } else { "FAIL " }.to_owned();
        cells[6] = v(a[i]);
        cells[7] = v(b[i]);
        writer.write_record(&cells).unwrap();
    }
    writer.flush().unwrap();
}

#[test]
fn judge_validation_figures_equal_an_independent_computation() {
    let root = test_support::repo_root();
    let rubric = judge::rubric::load(&root.join("prompts/judges/m09_v1.yaml"))
        .unwrap()
        .rubric;
    let n = 40;
    // Annotator A, annotator B (disagreeing on every 7th row), and the judge (wrong on every
    // 5th row) per (row, criterion), criteria alternating.
    let mut judged = Vec::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        for (k, c) in rubric.criteria.iter().enumerate() {
            let truth = (i * 3 + k) % 4 != 0;
            let j = i * 2 + k;
            a.push(truth);
            b.push(if j % 7 == 0 { !truth } else { truth });
            judged.push(JudgedRow {
                record_id: format!("R{i}"),
                criterion: c.id.clone(),
                pass: if j % 5 == 0 { !truth } else { truth },
            });
        }
    }
    let dir = tempfile::tempdir().unwrap();
    // The judge CSV reads back (written here in its format).
    let judge_csv = dir.path().join("M09_judge_x.csv");
    let mut w = csv::Writer::from_path(&judge_csv).unwrap();
    w.write_record(judge::run::COLUMNS).unwrap();
    for r in &judged {
        let v = if r.pass { "pass" } else { "fail" };
        w.write_record([&r.record_id, &r.criterion, v, "1", "", "m", "", v])
            .unwrap();
    }
    w.flush().unwrap();
    assert_eq!(read_judge_csv(&judge_csv).unwrap(), judged);

    let inputs: HashMap<String, (String, String, String)> = (0..n)
        .map(|i| {
            let cells = ("{}".to_owned(), "null".to_owned(), "=1+1".to_owned());
            (format!("R{i}"), cells)
        })
        .collect();
    let sheet = dir.path().join("sheet.csv");
    write_sheet(&sheet, &rubric, &judged, &inputs).unwrap();
    assert!(
        std::fs::read_to_string(&sheet)
            .unwrap()
            .contains("\"'=1+1\""),
        "answers are spreadsheet-safe"
    );
    fill(&sheet, &a, &b);
    let report = validate(&rubric, &judged, &sheet).unwrap();
    assert_eq!(report.incomplete_rows, 0);

    let all = report.criteria.last().unwrap();
    assert_eq!(all.criterion, "all");
    let (kappa_ab, ac1_ab) = reference(&a, &b);
    assert!((all.annotators.kappa.unwrap() - kappa_ab).abs() < 1e-12);
    assert!((all.annotators.ac1.unwrap() - ac1_ab).abs() < 1e-12);
    let (consensus, judge): (Vec<bool>, Vec<bool>) = a
        .iter()
        .zip(&b)
        .zip(&judged)
        .filter(|((x, y), _)| x == y)
        .map(|((x, _), j)| (*x, j.pass))
        .unzip();
    let (kappa_j, ac1_j) = reference(&consensus, &judge);
    assert_eq!(all.judge_vs_consensus.items, consensus.len() as u64);
    assert!((all.judge_vs_consensus.kappa.unwrap() - kappa_j).abs() < 1e-12);
    assert!((all.judge_vs_consensus.ac1.unwrap() - ac1_j).abs() < 1e-12);
    let [lo, hi] = all.judge_vs_consensus.kappa_ci95.unwrap();
    assert!(lo < kappa_j && kappa_j < hi);
    // The judge errs on 1 in 5, the annotators on 1 in 7: not validated.
    assert!(kappa_j < kappa_ab);
    assert!(!report.validated);
    assert_eq!(report.criteria.len(), rubric.criteria.len() + 1);
}
