"""The set-up a new user follows: README, anaconda-project.yml and CI agree."""
from __future__ import annotations

import re
import subprocess
import sys

import yaml
from helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
PROJECT = yaml.safe_load((ROOT / "anaconda-project.yml").read_text(encoding="utf-8"))


def readme_commands() -> list[str]:
    """The lines of the README's shell blocks."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", README, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_quick_start_is_two_commands_serve_and_test():
    start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for block in re.findall(r"```bash\n(.*?)```", start, flags=re.DOTALL)
                for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert commands == ["pip install -r requirements.txt && python -m leak_app serve", "bash tests/run.sh"]


def test_project_commands_match_the_readme():
    commands = PROJECT["commands"]
    documented = " ".join(readme_commands())
    # served so in test_served.py
    assert commands["dashboard"]["unix"] == "panel serve leak_app/dashboard.py --warm"
    assert commands["dashboard"]["supports_http_options"] is True
    assert commands["test"]["unix"] == "bash tests/run.sh" and commands["test"]["env_spec"] == "test"
    for name in ("dashboard", "export", "test"):
        assert commands[name]["unix"] in documented, name
    assert (ROOT / commands["notebook"]["notebook"]).is_file()
    assert PROJECT["name"] and PROJECT["description"] and PROJECT["dependencies"] == PROJECT["packages"]


def test_the_code_passes_the_projects_lint_line_length_included():
    """Ruff with the project's settings (pyproject.toml: its default rules and 110 characters a line)."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "leak_app", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash tests/run.sh" in ci


def test_project_packages_cover_the_requirements():
    names = set()
    for entry in PROJECT["packages"]:
        for spec in entry["pip"] if isinstance(entry, dict) else [entry]:
            names.add(re.split(r"[<>=!]", spec)[0].lower().replace("_", "-"))
    required = [re.split(r"[<>=!]", line)[0].lower().replace("_", "-")
                for line in (ROOT / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert set(required) <= names
