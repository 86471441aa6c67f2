"""Shell completion: the generated scripts complete option values (vocabularies, devices, modes,
models, files, folders) in real bash, fish and zsh, and `musictext completions install` puts them
where each shell loads them from. (tests/test_models.py checks that the scripts match the CLI.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_cli_index_search import mt

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "completions"


def _need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        if os.environ.get("MUSICTEXT_TEST_TOOLS") == "required":
            pytest.fail(f"{shell} is not installed")
        pytest.skip(f"{shell} is not installed")
    return path


@pytest.fixture
def place(tmp_path, monkeypatch) -> Path:
    """A folder with a file, a playlist and a subfolder, and a data folder with a trained bundle."""
    (tmp_path / "Music").mkdir()
    (tmp_path / "list.m3u").write_text("#EXTM3U\n")
    (tmp_path / "song.flac").write_bytes(b"")
    home = tmp_path / "home"
    (home / "models" / "my-model").mkdir(parents=True)
    (home / "models" / "my-model" / "manifest.json").write_text("{}")
    (home / "models" / "half-made").mkdir()  # no manifest: not a bundle
    monkeypatch.setenv("MUSICTEXT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


# (words typed after "musictext", what must be offered, what must not)
CASES = [
    (["tag", "--vocab", ""], {"moods", "genres", "eras", "instruments", "list.m3u"}, set()),
    (["tag", "-v", "m"], {"moods"}, {"genres"}),
    (["index", "--device", ""], {"auto", "cpu", "cuda"}, {"list.m3u"}),
    (["train", "--device", "c"], {"cpu", "cuda"}, {"auto"}),
    (["tag", "--mode", ""], {"add", "replace"}, set()),
    (["train", "--loss", ""], {"infonce", "triplet"}, set()),
    (["playlist", "--for", ""], {"mpd", "navidrome", "jellyfin", "generic"}, set()),
    (["playlist", "--model", ""], {"musicnn-minilm", "my-model"}, {"half-made", "list.m3u"}),
    (["models", "verify", ""], {"musicnn-minilm", "my-model"}, {"list"}),
    (["index", ""], {"Music", "home"}, {"song.flac", "list.m3u"}),
    (["playlist", "--like", ""], {"song.flac", "list.m3u"}, set()),
    (["playlist", "--exclude", "l"], {"list.m3u"}, set()),
    (["playlist", "-n", ""], set(), {"song.flac", "--limit"}),
    (["completions", "install", ""], {"bash", "zsh", "fish"}, set()),
    (["models", ""], {"list", "verify", "concepts"}, {"musicnn-minilm"}),
    (["playlist", "--fo"], {"--for", "--force"}, {"--from"}),
]


def _clean(words: set[str]) -> set[str]:
    return {w.rstrip("/") for w in words if w}


def bash_complete(words: list[str]) -> set[str]:
    line = " ".join(f"'{w}'" for w in ["musictext", *words])
    script = (
        f"source {SCRIPTS / 'musictext.bash'}\n"
        f"COMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _musictext\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, check=True).stdout
    return _clean(set(out.split("\n")))


def fish_complete(words: list[str]) -> set[str]:
    line = " ".join(["musictext", *words])
    script = f"source {SCRIPTS / 'musictext.fish'}; complete -C '{line}'"
    out = subprocess.run([_need("fish"), "--no-config", "-c", script], capture_output=True, text=True, check=True)
    return _clean({row.split("\t")[0] for row in out.stdout.split("\n")})


ZSH_HARNESS = r"""
compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }
_files() { if [[ $1 == -/ ]]; then print -rl -- *(N/); else print -rl -- *(N); fi; }
_describe() { local s; for s in ${(P)2}; do print -r -- ${s%%:*}; done; }
words=("$@"); CURRENT=$#; PREFIX=${words[CURRENT]}
source "$SCRIPT"
"""


def zsh_complete(words: list[str]) -> set[str]:
    """zsh's completion calls (compadd, _files, _describe) stood in for, the script itself run."""
    env = {**os.environ, "SCRIPT": str(SCRIPTS / "_musictext")}
    out = subprocess.run(
        [_need("zsh"), "-f", "-c", ZSH_HARNESS, "zsh", "musictext", *words],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    got = _clean(set(out.split("\n")))
    prefix = words[-1]
    return {w for w in got if w.startswith(prefix)}  # zsh filters by the typed prefix itself


@pytest.mark.parametrize("complete", [bash_complete, fish_complete, zsh_complete], ids=["bash", "fish", "zsh"])
def test_value_completion(place, complete):
    for words, wanted, unwanted in CASES:
        got = complete(words)
        assert wanted <= got, (words, got)
        assert not (unwanted & got), (words, got)


def test_install_writes_where_each_shell_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("BASH_COMPLETION_USER_DIR", raising=False)
    monkeypatch.delenv("ZDOTDIR", raising=False)
    places = {
        "bash": tmp_path / "data" / "bash-completion" / "completions" / "musictext",
        "zsh": tmp_path / ".zfunc" / "_musictext",
        "fish": tmp_path / "config" / "fish" / "completions" / "musictext.fish",
    }
    scripts = {"bash": "musictext.bash", "zsh": "_musictext", "fish": "musictext.fish"}
    for shell, dest in places.items():
        dry = mt("completions", "install", shell, "--dry-run")
        assert f"would write {dest}" in dry.stderr and not dest.exists()
        done = mt("completions", "install", shell)
        assert f"wrote {dest}" in done.stderr
        assert dest.read_text() == (SCRIPTS / scripts[shell]).read_text()
        assert mt("completions", "show", shell).stdout == (SCRIPTS / scripts[shell]).read_text()
    assert f"fpath=({tmp_path / '.zfunc'} $fpath)" in mt("completions", "install", "zsh").stderr  # ours: replaced
    # A script someone else put there is left alone unless --force.
    places["bash"].write_text("complete -F _mine musictext\n")
    refused = mt("completions", "install", "bash", check=False)
    assert refused.returncode == 1 and "did not write" in refused.stderr and "Traceback" not in refused.stderr
    assert places["bash"].read_text() == "complete -F _mine musictext\n"
    mt("completions", "install", "bash", "--force")
    assert places["bash"].read_text() == (SCRIPTS / "musictext.bash").read_text()
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert f"wrote {places['fish']}" in mt("completions", "install").stderr  # the shell from $SHELL
    monkeypatch.setenv("SHELL", "/bin/tcsh")
    odd = mt("completions", "install", check=False)
    assert odd.returncode == 1 and "cannot tell your shell" in odd.stderr
