"""Where the build stage's options come from, in memory: defaults < [tool.toolkit.build] < TOOLKIT_BUILD_* < flags.

Each case sets a value at every level and checks that each level overrides the
one below it, the way a user layers a project default, a CI variable and a flag.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from toolkit import cli, config
from toolkit.config import BuildOptions, CheckOptions
from toolkit.errors import ConfigError


def project(folder: Path, toml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\n\n' + toml, encoding="utf-8")
    return folder


def layers(folder: Path, table: str, env: dict[str, str], flags: dict[str, Any], name: str) -> list[Any]:
    """The option's value with defaults only, + the table, + the environment, + the flags."""
    src = project(folder, f"[tool.toolkit.build]\n{table}\n")
    return [
        getattr(config.load("build", None, {}, {}), name),
        getattr(config.load("build", src, {}, {}), name),
        getattr(config.load("build", src, {}, env), name),
        getattr(config.load("build", src, flags, env), name),
    ]


# (option, TOML line, environment, flags, value at each of the four levels); paths are filled in by the test.
CASES: dict[str, tuple[str, dict[str, str], dict[str, Any], list[Any]]] = {
    "installer": ('installer = "pip"', {"TOOLKIT_BUILD_INSTALLER": "uv"}, {"installer": "auto"},
                  ["auto", "pip", "uv", "auto"]),
    "config_settings": (
        'config-settings = { mode = "table", only-table = ["a", "b"] }',
        {"TOOLKIT_BUILD_CONFIG_SETTINGS": "mode=env level=2"},
        {"config_settings": ["mode=flag", "mode=again"]},
        [{}, {"mode": "table", "only-table": ["a", "b"]}, {"mode": "env", "level": "2"}, {"mode": ["flag", "again"]}],
    ),
    "pass_env": ('pass-env = ["A_TABLE"]', {"TOOLKIT_BUILD_PASS_ENV": "B_ENV,C_ENV"}, {"pass_env": ["D_FLAG"]},
                 [(), ("A_TABLE",), ("B_ENV", "C_ENV"), ("D_FLAG",)]),
    "cache": ("cache = false", {"TOOLKIT_BUILD_CACHE": "1"}, {"cache": False}, [True, False, True, False]),
    "isolation": ("isolation = false", {"TOOLKIT_BUILD_ISOLATION": "yes"}, {"isolation": False},
                  [True, False, True, False]),
    "sdist": ("sdist = false", {"TOOLKIT_BUILD_SDIST": "on"}, {"sdist": False}, [True, False, True, False]),
    "cache_ttl": ("cache-ttl = 60", {"TOOLKIT_BUILD_CACHE_TTL": "120"}, {"cache_ttl": 5}, [86400, 60, 120, 5]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_level_overrides_the_one_below(name: str, tmp_path: Path) -> None:
    table, env, flags, expected = CASES[name]
    assert layers(tmp_path / "proj", table, env, flags, name) == expected


def test_outdir_levels_and_what_relative_paths_are_relative_to(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    got = layers(tmp_path / "proj", 'outdir = "from-table"', {"TOOLKIT_BUILD_OUTDIR": "from-env"},
                 {"outdir": Path("from-flag")}, "outdir")
    # The table's path is relative to the project; the variable's and the flag's to where the user stands.
    assert got == [None, tmp_path / "proj" / "from-table", cwd / "from-env", cwd / "from-flag"]
    assert config.load("build", None, {"outdir": tmp_path / "abs"}, {}).outdir == tmp_path / "abs"


def test_an_unset_flag_keeps_the_lower_levels(tmp_path: Path) -> None:
    src = project(tmp_path, '[tool.toolkit.build]\ninstaller = "pip"\ncache = false\n')
    options = config.load("build", src, {"installer": None, "cache": None, "outdir": None}, {})
    assert (options.installer, options.cache) == ("pip", False)


def test_defaults_without_a_project_table(tmp_path: Path) -> None:
    assert config.load("build", project(tmp_path, ""), {}, {}) == BuildOptions()
    assert config.load("build", tmp_path / "no-such-folder", {}, {}) == BuildOptions()
    options = BuildOptions()
    assert (options.sdist, options.wheel, options.isolation, options.cache, options.installer) == (
        True, True, True, True, "auto")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.cache = False  # type: ignore[misc]


@pytest.mark.parametrize(("text", "value"), [("1", True), ("true", True), ("YES", True), ("on", True),
                                             ("0", False), ("false", False), ("no", False), ("off", False),
                                             ("", False)])
def test_boolean_spellings_in_the_environment(text: str, value: bool) -> None:
    assert config.load("build", None, {}, {"TOOLKIT_BUILD_CACHE": text}).cache is value


def test_other_stages_read_their_own_table_and_variables(tmp_path: Path) -> None:
    src = project(tmp_path, '[tool.toolkit.check]\nignore = ["W101"]\n\n[tool.toolkit.build]\ncache = false\n')
    assert config.load("check", src, {}, {"TOOLKIT_BUILD_CACHE": "1"}) == CheckOptions(ignore=("W101",))
    assert config.load("check", src, {}, {"TOOLKIT_CHECK_STRICT": "1"}).strict is True


BAD = {
    "toolkit-not-a-table": ('[tool]\ntoolkit = "fast"\n', "[tool.toolkit] must be a table"),
    "build-not-a-table": ('[tool.toolkit]\nbuild = "fast"\n', "[tool.toolkit.build] must be a table"),
    "unknown-stage": ("[tool.toolkit.bogus]\nx = 1\n", "[tool.toolkit.bogus]"),
    "unknown-key": ("[tool.toolkit.build]\nturbo = true\n", "'turbo'"),
    "int-as-text": ('[tool.toolkit.build]\ncache-ttl = "soon"\n', "cache-ttl"),
    "bool-as-text": ('[tool.toolkit.build]\nsdist = "maybe"\n', "sdist"),
    "list-of-ints": ("[tool.toolkit.build]\npass-env = [1, 2]\n", "pass-env"),
    "unknown-choice": ('[tool.toolkit.build]\ninstaller = "conda"\n', "installer"),
    "setting-not-text": ("[tool.toolkit.build]\nconfig-settings = { level = 1 }\n", "level"),
    "path-as-int": ("[tool.toolkit.build]\noutdir = 3\n", "outdir"),
    "invalid-toml": ("[tool.toolkit.build\n", "pyproject.toml"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_table_is_a_config_error_that_names_the_key(case: str, tmp_path: Path) -> None:
    toml, named = BAD[case]
    with pytest.raises(ConfigError) as info:
        config.load("build", project(tmp_path, toml), {}, {})
    assert named in info.value.message
    assert "\n" not in info.value.message
    assert info.value.exit_code == 2


def test_a_tool_key_that_is_not_a_table_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('tool = "x"\n\n[project]\nname = "p"\nversion = "1"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load("build", tmp_path, {}, {})
    assert "tool" in info.value.message


@pytest.mark.parametrize(("env", "named"), [
    ({"TOOLKIT_BUILD_TURBO": "1"}, "TOOLKIT_BUILD_TURBO"),
    ({"TOOLKIT_BUILD_CACHE": "maybe"}, "TOOLKIT_BUILD_CACHE"),
    ({"TOOLKIT_BUILD_CACHE_TTL": "1h"}, "TOOLKIT_BUILD_CACHE_TTL"),
    ({"TOOLKIT_BUILD_CONFIG_SETTINGS": "novalue"}, "TOOLKIT_BUILD_CONFIG_SETTINGS"),
])
def test_a_bad_variable_is_a_config_error_that_names_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load("build", None, {}, env)
    assert named in info.value.message


def test_a_bad_flag_value_names_the_flag_the_user_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", str(project(tmp_path, "")), "-C", "=x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(r"(--config-setting\b|-C\b)", err), err  # the flag is -C/--config-setting
