"""The set-up is one source of truth: pyproject.toml, environment.yml, the Makefile, .ci/run."""

import re
import tomllib

import yaml

from conftest import REPO


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement.split("#")[0]).lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_and_pins_as_pyproject():
    project = pyproject()["project"]
    wanted = {normalise(r) for r in project["dependencies"]}
    wanted |= {normalise(r) for extra in project["optional-dependencies"].values() for r in extra}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    named = {normalise(r) for r in pip_section if not r.startswith("-")}
    assert named == wanted, f"only in environment.yml: {named - wanted}; only in pyproject: {wanted - named}"


def test_torch_is_pinned_and_torchvision_absent():
    deps = [normalise(r) for r in pyproject()["project"]["dependencies"]]
    assert "torch==2.13.0" in deps
    assert not any(d.startswith("torchvision") for d in deps)


def test_escnn_is_installed_without_py3nj_everywhere_the_same_way():
    pinned = pyproject()["tool"]["course"]["no-deps"]["packages"]
    assert pinned == ["escnn==1.0.11"]
    for doc in ("README.md", "environment.yml"):
        assert "pip install --no-deps escnn==1.0.11" in (REPO / doc).read_text(), doc
    assert "no-deps" in (REPO / "scripts" / "setup_env.sh").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test")
    assert "make test" in (REPO / "README.md").read_text()
