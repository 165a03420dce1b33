"""The README's two set-up commands are the ones CI and users actually run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_opens_with_install_and_test_commands():
    run_cmd, test_cmd = readme_commands()
    assert "pip install -e ." in run_cmd and run_cmd.rstrip().endswith("advaudit audit")
    assert "'.[test]'" in test_cmd and "pytest" in test_cmd


def test_ci_runs_exactly_the_readme_test_command():
    _, test_cmd = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd.strip() in [line.strip() for line in ci]


def test_no_unfilled_placeholders_in_readme():
    text = (ROOT / "README.md").read_text()
    assert not re.search(r"\b[A-Z_]{4,}_(TRAINING|RESULTS|NOTES|HERE|COST|RATIO)\b", text)
