"""The README's two set-up commands are the ones CI and users actually run, and its Python
example runs as written."""

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


def test_the_python_example_runs_as_written(_own_working_directory, capsys):
    """Executed as a user would paste it, in an empty folder (the autouse fixture's)."""
    text = (ROOT / "README.md").read_text()
    (code,) = re.findall(r"## Python API.*?```python\n(.+?)\n```", text, flags=re.S)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    cwd = _own_working_directory
    for name in ("report.html", "results.json", "j.xml", "my-audit/results.json",
                 "my-audit/report.html"):
        assert (cwd / name).is_file(), name
    assert namespace["result"].summary["n_attacked"] > 0
    assert namespace["again"].summary["n_images"] == 8
    assert "AuditResults" in capsys.readouterr().out
