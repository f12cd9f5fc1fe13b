#!/usr/bin/env python3
"""Check the data content (datasets, prompts, schemas) against modules.toml.

Standard library only, Python 3.11+. Prints one line per problem and exits with status 1
when there is any; prints a short summary and exits 0 otherwise.

    python3 datasets/check_content.py
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT_VERSION = "v1"

# Minimum record counts per module (see datasets/README.md).
MIN_RECORDS = {
    **{m: 12 for m in ("m01", "m01a", "m01b", "m03", "m06", "m07", "m08", "m09", "m10", "m11")},
    **{m: 100 for m in ("m02", "m02b", "m04", "m04b", "m05", "m05b")},
    "m12": 180, "m12b": 180, "m13": 150, "m14": 60, "m15": 60, "m16": 60,
}
SYNTHETIC = {"m02": 20, "m12": 20, "m12b": 20}
ALLOWED_SCHEMA_KEYS = {"type", "properties", "required", "additionalProperties", "items", "enum", "anyOf", "description", "const"}
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
REQUIRED_SECTIONS = ["## Role", "## Task", "## Input", "## Decision rules", "## Examples", "## Output format"]
TRUE_WORDS = {"true", "yes", "y", "t", "1"}
FALSE_WORDS = {"false", "no", "n", "f", "0"}

problems: list[str] = []


def problem(where: str, msg: str) -> None:
    problems.append(f"{where}: {msg}")


# ---------------------------------------------------------------------------------------
# JSONL
# ---------------------------------------------------------------------------------------


def load_jsonl(path: Path) -> list[dict]:
    where = str(path.relative_to(ROOT))
    if not path.exists():
        problem(where, "file missing")
        return []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problem(where, f"not UTF-8: {e}")
        return []
    if not text.endswith("\n"):
        problem(where, "last line has no newline")
    records = []
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            problem(where, f"line {n}: blank line")
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            problem(where, f"line {n}: invalid JSON: {e}")
            continue
        if not isinstance(rec, dict):
            problem(where, f"line {n}: not an object")
            continue
        for key in ("id", "input", "expected", "metadata"):
            if key not in rec:
                problem(where, f"line {n}: missing key {key!r}")
        extra = set(rec) - {"id", "input", "expected", "metadata"}
        if extra:
            problem(where, f"line {n}: unexpected keys {sorted(extra)}")
        records.append(rec)
    ids = Counter(r.get("id") for r in records)
    for rid, c in ids.items():
        if c > 1:
            problem(where, f"id {rid!r} appears {c} times")
    return records


def check_metadata(where: str, rec: dict, module_id: str, keyword_level: bool) -> None:
    meta = rec.get("metadata", {})
    for key in ("module_id", "asin", "brand_name", "product_type", "split", "version", "source"):
        if key not in meta:
            problem(where, f"{rec.get('id')}: metadata lacks {key!r}")
    if meta.get("module_id") != module_id:
        problem(where, f"{rec.get('id')}: metadata.module_id {meta.get('module_id')!r} != {module_id!r}")
    if keyword_level:
        if meta.get("keyword") != rec.get("input", {}).get("keyword"):
            problem(where, f"{rec.get('id')}: metadata.keyword differs from input.keyword")


# ---------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------


def get_path(obj, dotted: str):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ("__missing__",)
        cur = cur[part]
    return cur


def label_of(value, score: dict):
    """Map a raw expected value to a label of the score, or None when it does not read."""
    mapping = score.get("expected_values")
    if mapping is not None:
        key = "null" if value is None or value == "" else str(value)
        if key not in mapping:
            return None
        value = mapping[key]
    kind = score["kind"]
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in TRUE_WORDS:
            return True
        if s in FALSE_WORDS:
            return False
        return None
    labels = score.get("labels", [])
    null_label = score.get("null")
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
        return null_label
    aliases = {a.lower(): lab for lab, al in score.get("aliases", {}).items() for a in al}
    s = str(value).strip().lower()
    for lab in labels:
        if s == lab.lower():
            return lab
    return aliases.get(s)


def check_expected(where: str, records: list[dict], module: dict) -> Counter:
    dist: Counter = Counter()
    for score in module.get("score", []):
        kind = score["kind"]
        for rec in records:
            value = get_path(rec.get("expected", {}), score["expected"])
            if value == ("__missing__",):
                problem(where, f"{rec.get('id')}: expected.{score['expected']} missing")
                continue
            if kind in ("binary", "multiclass", "boolean"):
                lab = label_of(value, score)
                if lab is None:
                    problem(where, f"{rec.get('id')}: expected {value!r} is not in the label set of score {score['name']!r}")
                else:
                    dist[(score["name"], lab)] += 1
            elif kind == "list":
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    problem(where, f"{rec.get('id')}: expected.{score['expected']} is not a list of strings")
            elif kind == "text":
                if not isinstance(value, str) or not value.strip():
                    problem(where, f"{rec.get('id')}: expected.{score['expected']} is not a non-empty string")
            elif kind == "taxonomy":
                if not (isinstance(value, list) and value and all(
                        isinstance(t, dict) and set(t) == {"level", "product_type", "rank"} for t in value)):
                    problem(where, f"{rec.get('id')}: expected taxonomy malformed")
            elif kind == "ranking":
                if not (isinstance(value, list) and value and all(
                        isinstance(t, dict) and set(t) == {"attribute_type", "attribute_value", "rank"} for t in value)):
                    problem(where, f"{rec.get('id')}: expected attribute_table malformed")
    return dist


# ---------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------


def check_schema_node(where: str, node, path: str) -> None:
    if not isinstance(node, dict):
        problem(where, f"{path}: schema node is not an object")
        return
    for key in node:
        if key not in ALLOWED_SCHEMA_KEYS:
            problem(where, f"{path}: keyword {key!r} not allowed in strict mode")
    if "anyOf" in node:
        if not isinstance(node["anyOf"], list) or not node["anyOf"]:
            problem(where, f"{path}: anyOf must be a non-empty list")
        else:
            for i, sub in enumerate(node["anyOf"]):
                check_schema_node(where, sub, f"{path}.anyOf[{i}]")
        return
    t = node.get("type")
    types = t if isinstance(t, list) else [t]
    if t is None and "const" not in node and "enum" not in node:
        problem(where, f"{path}: no type")
    for ty in types:
        if ty is not None and ty not in JSON_TYPES:
            problem(where, f"{path}: unknown type {ty!r}")
    if "enum" in node:
        for v in node["enum"]:
            if v is None and "null" not in types:
                problem(where, f"{path}: enum has null but type is not nullable")
            if isinstance(v, str) and "string" not in types:
                problem(where, f"{path}: enum has a string but type has no string")
    if "object" in types:
        props = node.get("properties")
        if not isinstance(props, dict):
            problem(where, f"{path}: object without properties")
            props = {}
        if node.get("additionalProperties") is not False:
            problem(where, f"{path}: additionalProperties must be false")
        req = node.get("required")
        if not isinstance(req, list) or set(req) != set(props) or len(req) != len(set(req)):
            problem(where, f"{path}: required must list every property exactly once")
        for name, sub in props.items():
            check_schema_node(where, sub, f"{path}.{name}")
    if "array" in types:
        if "items" not in node:
            problem(where, f"{path}: array without items")
        else:
            check_schema_node(where, node["items"], f"{path}[]")


def validate(value, node, path: str, errors: list[str]) -> None:
    """Structural validation of a JSON value against the strict-mode subset."""
    if "anyOf" in node:
        for sub in node["anyOf"]:
            sub_errors: list[str] = []
            validate(value, sub, path, sub_errors)
            if not sub_errors:
                return
        errors.append(f"{path}: matches no anyOf branch")
        return
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: {value!r} != const {node['const']!r}")
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: {value!r} not in enum {node['enum']}")
        return
    t = node.get("type")
    types = t if isinstance(t, list) else [t]

    def is_type(v, ty):
        return {
            "null": v is None,
            "boolean": isinstance(v, bool),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "string": isinstance(v, str),
            "array": isinstance(v, list),
            "object": isinstance(v, dict),
        }.get(ty, False)

    if t is not None and not any(is_type(value, ty) for ty in types):
        errors.append(f"{path}: {type(value).__name__} is not {t}")
        return
    if isinstance(value, dict):
        props = node.get("properties", {})
        for k in props:
            if k not in value:
                errors.append(f"{path}: missing key {k!r}")
        for k, v in value.items():
            if k not in props:
                errors.append(f"{path}: unexpected key {k!r}")
            else:
                validate(v, props[k], f"{path}.{k}", errors)
    if isinstance(value, list) and "items" in node:
        for i, v in enumerate(value):
            validate(v, node["items"], f"{path}[{i}]", errors)


def load_schema(where: str, path: Path, slug: str):
    if not path.exists():
        problem(where, "file missing")
        return None
    try:
        wrapper = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        problem(where, f"invalid JSON: {e}")
        return None
    if set(wrapper) != {"name", "strict", "schema"}:
        problem(where, f"wrapper keys must be name, strict, schema (got {sorted(wrapper)})")
    name = wrapper.get("name", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(name)):
        problem(where, f"name {name!r} is not [a-zA-Z0-9_-], up to 64 characters")
    if name != slug:
        problem(where, f"name {name!r} differs from the expected {slug!r} (module id + slug)")
    if wrapper.get("strict") is not True:
        problem(where, "strict must be true")
    schema = wrapper.get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        problem(where, "root schema must be an object")
        return None
    check_schema_node(where, schema, "schema")
    return schema


# ---------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------


def check_prompt(where: str, path: Path, module: dict, records: list[dict], schema) -> None:
    if not path.exists():
        problem(where, "file missing")
        return
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    n_lines = len(lines) - (1 if text.endswith("\n") else 0)
    if not 60 <= n_lines <= 200:
        problem(where, f"{n_lines} lines, expected 60-200")
    if not lines[0].startswith("# Module "):
        problem(where, "first line must be '# Module NN: Title'")
    pos = -1
    for sec in REQUIRED_SECTIONS:
        i = text.find("\n" + sec + "\n")
        if i < 0:
            problem(where, f"section {sec!r} missing")
        elif i < pos:
            problem(where, f"section {sec!r} out of order")
        else:
            pos = i
    if "Respond with a single JSON object" not in text:
        problem(where, "output format must say 'Respond with a single JSON object'")
    if module.get("response_format") == "json_object" and "JSON" not in text:
        problem(where, "json_object mode needs the word JSON in the prompt")

    placeholders = PLACEHOLDER.findall(text)
    stray = PLACEHOLDER.sub("", text)
    if "{{" in stray or "}}" in stray:
        problem(where, "double braces outside a {{placeholder}}")
    used = set(placeholders)
    missing_in: Counter = Counter()
    unused_in: Counter = Counter()
    for rec in records:
        keys = set(rec.get("input", {}))
        for k in used - keys:
            missing_in[k] += 1
        for k in keys - used:
            unused_in[k] += 1
    for k, n in sorted(missing_in.items()):
        problem(where, f"placeholder {{{{{k}}}}} is not an input key of {n} record(s)")
    for k, n in sorted(unused_in.items()):
        problem(where, f"input key {k!r} of {n} record(s) is not used by the prompt")
    if not records:
        problem(where, "no dataset records to compare placeholders with")

    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    examples_part = text.split("## Examples", 1)[-1].split("## Output format", 1)[0]
    n_examples = len(re.findall(r"```json\n", examples_part))
    if n_examples < 3:
        problem(where, f"{n_examples} JSON examples, expected at least 3")
    if schema is None:
        return
    for i, block in enumerate(blocks, 1):
        try:
            value = json.loads(block)
        except json.JSONDecodeError as e:
            problem(where, f"JSON block {i} does not parse: {e}")
            continue
        errors: list[str] = []
        validate(value, schema, "$", errors)
        for err in errors:
            problem(where, f"JSON block {i}: {err}")


# ---------------------------------------------------------------------------------------
# Cross-module consistency of the relevance chain
# ---------------------------------------------------------------------------------------


def key_of(rec):
    return (rec["metadata"]["asin"], rec["input"]["keyword"])


def check_chain(data: dict[str, list[dict]]) -> None:
    def by_key(m):
        return {key_of(r): r["expected"] for r in data.get(m, [])}

    m12, m12b, m13, m14, m15, m16 = (by_key(m) for m in ("m12", "m12b", "m13", "m14", "m15", "m16"))
    if set(m12) != set(m12b):
        problem("chain", "m12 and m12b hold different keyword-product pairs")
    non_violating = {k for k, e in m12.items() if e.get("relevancy") is None}
    if set(m13) != non_violating:
        problem("chain", "m13 must hold exactly the non-violating m12 pairs")
    same = {k for k, e in m13.items() if e.get("same_type") is True}
    diff = set(m13) - same
    if set(m14) != same:
        problem("chain", "m14 must hold exactly the same-type m13 pairs")
    if set(m15) != diff:
        problem("chain", "m15 must hold exactly the different-type m13 pairs")
    if set(m16) != {k for k in diff if m15.get(k, {}).get("relevancy") is None}:
        problem("chain", "m16 must hold exactly the non-substitute m15 pairs")
    for k, e in m12b.items():
        if k not in m12:
            continue
        if m12[k].get("relevancy") == "N":
            want = "N"
        elif k in m14:
            want = m14[k]["relevancy"]
        elif m15.get(k, {}).get("relevancy") == "S":
            want = "S"
        else:
            want = m16.get(k, {}).get("relevancy")
        if e.get("relevancy") != want:
            problem("chain", f"m12b {k}: {e.get('relevancy')!r} but the Path A chain gives {want!r}")

    brand = {m: {key_of(r): r["expected"] for r in data.get(m, [])} for m in ("m02", "m02b", "m04", "m04b", "m05", "m05b")}
    keys = set(brand["m02"])
    for m, d in brand.items():
        if set(d) != keys:
            problem("chain", f"{m} does not hold the same keywords as m02")
    for k in keys:
        ob = brand["m02"][k].get("branding_scope_1")
        cb = brand["m04"].get(k, {}).get("branding_scope_2")
        nb = brand["m05"].get(k, {}).get("branding_scope_3")
        if brand["m02b"].get(k, {}).get("branding_scope_1") != ob:
            problem("chain", f"m02/m02b disagree on {k}")
        if brand["m04b"].get(k, {}).get("branding_scope_2") != cb:
            problem("chain", f"m04/m04b disagree on {k}")
        if brand["m05b"].get(k, {}).get("branding_scope_3") != nb:
            problem("chain", f"m05/m05b disagree on {k}")
        if ob == "OB" and (cb is not None or nb is not None):
            problem("chain", f"{k}: OB keyword must be null for CB and NB")
        if cb == "CB" and nb is not None:
            problem("chain", f"{k}: CB keyword must be null for NB")


# ---------------------------------------------------------------------------------------


def main() -> int:
    catalogue = tomllib.loads((ROOT / "modules.toml").read_text(encoding="utf-8"))
    defaults = catalogue.get("defaults", {})
    data: dict[str, list[dict]] = {}
    summary = []
    for module in catalogue["module"]:
        mid = module["id"]
        module = {**defaults, **module}
        ds_where = module["dataset"]
        records = load_jsonl(ROOT / module["dataset"])
        data[mid] = records
        keyword_level = bool(records) and "keyword" in records[0].get("input", {})
        for rec in records:
            check_metadata(ds_where, rec, mid, keyword_level)
        if len(records) < MIN_RECORDS.get(mid, 1):
            problem(ds_where, f"{len(records)} records, expected at least {MIN_RECORDS[mid]}")
        dist = check_expected(ds_where, records, module)
        schema_path = module["schema"]
        schema = load_schema(schema_path, ROOT / schema_path, f"{mid}_{module['slug']}")
        prompt_path = module["prompt"].replace("{version}", PROMPT_VERSION)
        check_prompt(prompt_path, ROOT / prompt_path, module, records, schema)
        dist_text = ", ".join(f"{lab}={n}" for (_, lab), n in sorted(dist.items(), key=lambda x: str(x[0])))
        summary.append(f"{mid:5s} {len(records):4d} records  {dist_text}")

        if mid in SYNTHETIC:
            path = f"datasets/synthetic/{mid}_sd01_{module['slug']}.jsonl"
            syn = load_jsonl(ROOT / path)
            if len(syn) != SYNTHETIC[mid]:
                problem(path, f"{len(syn)} records, expected {SYNTHETIC[mid]}")
            for rec in syn:
                check_metadata(path, rec, mid, True)
                if set(rec.get("input", {})) != set(records[0].get("input", {})) if records else False:
                    problem(path, f"{rec.get('id')}: input keys differ from the golden dataset")
            golden = {key_of(r) for r in records}
            for rec in syn:
                if key_of(rec) in golden:
                    problem(path, f"{rec.get('id')}: same keyword and product as a golden record")
            sdist = check_expected(path, syn, module)
            summary.append(f"      sd01 {len(syn):3d} records  " + ", ".join(f"{lab}={n}" for (_, lab), n in sorted(sdist.items(), key=lambda x: str(x[0]))))

    check_chain(data)

    if problems:
        for p in problems:
            print(p)
        print(f"\n{len(problems)} problem(s)")
        return 1
    print("\n".join(summary))
    print("\nno problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
