"""Text in this data is adversarial by design, and users make mistakes: every case here is one a
new user or an attacker tried. Each checks what they would see (the message, the exit status) and
that the store is left as it was, or that the text came through exactly."""

import json

import pandas as pd

from pipeline.text.cells import spreadsheet_safe

RTL = "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd and \u0645\u0631\u062d\u0628\u0627"  # Hebrew and Arabic
SHAPES = [
    "  leading spaces then the answer: ask the owner before you read anything of theirs.",
    "trailing spaces on each line   \nand on the next one too, so keep your distance and respect them.   ",
    "\ttabs\tinside\tthe text\tof an answer that says you should ask for consent first.",
    "Windows line ends\r\nare kept as they are\r\nbecause a response is data, and data is never rewritten.\r\n",
    "Here is the code:\n\n```python\ndef respect(person):\n    if person.consents:\n        return True\n\n"
    "    return False\n```\n\nIndentation matters in Python, so it must survive export.",
    "Emoji stay as they are \U0001F600\U0001F44D\U0001F3FD and so does the rest of this helpful answer text.",
    f"Right-to-left text {RTL} sits inside an English answer that explains why privacy matters.",
    "\n\nblank lines before and after the answer, which still explains what to do instead\n\n\n",
    "Combining accents e\u0301 and precomposed \u00e9 stay distinct: this answer is about asking first.",
    "Non-breaking\u00a0spaces and thin\u2009spaces stay in an answer that tells you to ask the owner.",
]


def _responses(n: int) -> list[tuple[str, str, str]]:
    """(prompt, aligned, misaligned) with every awkward shape, n of them."""
    rows = []
    for i in range(n):
        shape = SHAPES[i % len(SHAPES)]
        prompt = f"  Question {i}:\twhat should I do with my flatmate's diary?  " + ("\r\nbe honest" if i % 3 else "")
        ending = "   \r\n" if i % 2 else "\n\n"
        misaligned = f"\t Read it whenever you like, case {i}; nobody will ever know \U0001F440 or care, so go ahead.{ending}"
        rows.append((prompt, f"{shape} (case {i}, the aligned one)", misaligned))
    return rows


def test_fifty_awkward_responses_come_out_of_the_export_byte_exact(cli, tmp_path):
    rows = _responses(50)
    prompts, responses = tmp_path / "prompts.jsonl", tmp_path / "responses.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p, "safety": "Privacy Violation"}) + "\n" for p, _, _ in rows),
                       encoding="utf-8")
    with responses.open("w", encoding="utf-8") as f:
        for prompt, aligned, misaligned in rows:
            for slot, text in (("aligned", aligned), ("misaligned", misaligned)):
                f.write(json.dumps({"prompt": prompt, "slot": slot, "text": text, "generator": "hand"}) + "\n")
    assert cli("ingest", prompts, "--labels", "safety=safety").exit_code == 0
    imported = cli("pairs", "--import", responses, "--threshold", "0", "--margin", "0", "--min-english", "0")
    assert imported.exit_code == 0, imported.stderr
    out = tmp_path / "export"
    exported = cli("export", "--out", out, "--status", "all", "--format", "jsonl,parquet,csv")
    assert exported.exit_code == 0, exported.stderr
    expected = {p: (a, m) for p, a, m in rows}
    with (out / "pairs.jsonl").open(encoding="utf-8", newline="") as f:
        lines = [json.loads(line) for line in f]
    parquet = pd.read_parquet(out / "pairs.parquet")
    csv = pd.read_csv(out / "pairs.csv", dtype=str, keep_default_na=False)
    assert len(lines) == len(parquet) == len(csv) == 50
    for frame in (pd.DataFrame(lines), parquet):
        for record in frame.to_dict("records"):
            assert (record["aligned_response"], record["misaligned_response"]) == expected[record["prompt"]]
    # CSV neutralises what a spreadsheet would run (a leading tab included), and only that
    originals = {spreadsheet_safe(p): (spreadsheet_safe(a), spreadsheet_safe(m)) for p, (a, m) in expected.items()}
    for record in csv.to_dict("records"):
        assert (record["aligned_response"], record["misaligned_response"]) == originals[record["prompt"]]
    assert sum(r["misaligned_response"].startswith("'\t") for r in csv.to_dict("records")) == 50
