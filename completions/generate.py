"""Generate static shell completions (bash, zsh, fish) from the Typer app.

    python completions/generate.py          # rewrite completions/musictext.{bash,zsh,fish}
    python completions/generate.py --check  # exit 1 if the committed files have drifted

Static scripts need no Python at completion time (the shell answers instantly); the test suite
runs --check so a new option without regenerated completions fails CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

HERE = Path(__file__).resolve().parent


def value_kinds() -> dict:
    """What an option's value completes to (by option, or by "command option"), and what a
    command's arguments do: ("words", [...]), ("vocab", [...]) (words and files), ("models",),
    ("files",), ("dirs",) or ("none",). Values come from where the code defines them."""
    from typing import get_args

    from musictext.completion import SHELLS
    from musictext.library.index import ENGINES
    from musictext.library.shards import FORMATS
    from musictext.model.bundle import builtin_dirs
    from musictext.model.runtime import DEVICES
    from musictext.playlists.targets import TARGETS
    from musictext.tags.files import Mode
    from musictext.tags.tagging import BUILTIN_VOCABS
    from musictext.train.trainer import LOSSES

    shells = ("words", SHELLS)
    options = {
        "--vocab": ("vocab", sorted(BUILTIN_VOCABS)),
        "--device": ("words", list(DEVICES)),
        "--engine": ("words", list(ENGINES)),
        "--export": ("words", list(FORMATS)),
        "--import": ("dirs",),
        "--mode": ("words", list(get_args(Mode))),
        "--loss": ("words", list(LOSSES)),
        "--for": ("words", list(TARGETS)),
        "--model": ("models",),
        "--base": ("models",),
        "--like": ("files",),
        "--from": ("files",),
        "--to": ("files",),
        "--output": ("files",),
        "--pairs": ("files",),
        "--update": ("files",),
        "--music-dir": ("dirs",),
        "--token-file": ("files",),
        "--password-file": ("files",),
        "--api-key-file": ("files",),
        "--playlist-dir": ("dirs",),
        "playlist --exclude": ("files",),  # a playlist file; index --exclude is a glob
    }
    arguments = {
        "index": ("dirs",),
        "similar": ("files",),
        "tag": ("files",),
        "models concepts": ("models",),
        "models verify": ("models",),
        "completions install": shells,
        "completions show": shells,
    }
    builtin = sorted({p.name for d in builtin_dirs() for p in d.iterdir() if (p / "manifest.json").is_file()})
    return {"options": options, "arguments": arguments, "builtin_models": builtin}


def tree() -> dict[str, dict]:
    """{"": root options, "index": {...}, "models list": {...}}: options (each with its value kind,
    None for a flag), subcommands, and what the arguments complete to."""
    from musictext.cli.app import app

    kinds = value_kinds()
    root = typer.main.get_command(app)
    out: dict[str, dict] = {}

    # Typer may vendor its own click: recognise groups and options by shape, not by class.
    def walk(cmd, path: str) -> None:
        params = []
        for p in cmd.params:
            if getattr(p, "param_type_name", "") != "option":
                continue
            names = sorted((*p.opts, *p.secondary_opts))
            long = next((o for o in names if o.startswith("--")), names[0])
            if getattr(p, "is_flag", False) or getattr(p, "count", False):
                kind = None
            else:
                kind = kinds["options"].get(f"{path} {long}") or kinds["options"].get(long)
                if kind is None:
                    kind = ("files",) if getattr(p.type, "name", "") == "path" else ("none",)
            params.append({"names": names, "kind": kind})
        params.append({"names": ["--help"], "kind": None})
        params.sort(key=lambda q: q["names"])
        opts = sorted({o for q in params for o in q["names"]})
        group = hasattr(cmd, "commands")
        subs = sorted(cmd.commands) if group else []
        help_ = {n: (c.get_short_help_str(60) or "") for n, c in cmd.commands.items()} if group else {}
        has_args = any(getattr(p, "param_type_name", "") == "argument" for p in cmd.params)
        args = kinds["arguments"].get(path, ("none",)) if has_args else None
        out[path] = {"options": opts, "params": params, "subcommands": subs, "help": help_, "args": args}
        if group:
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())

    walk(root, "")
    out[""]["builtin_models"] = kinds["builtin_models"]
    return out


def _value_cases(t: dict) -> dict[tuple, list[str]]:
    """kind -> the "command option" pairs whose value it completes."""
    cases: dict[tuple, list[str]] = {}
    for path, v in t.items():
        for q in v["params"]:
            if q["kind"] is None:
                continue
            key = tuple(q["kind"][0:1]) + tuple(q["kind"][1]) if len(q["kind"]) > 1 else tuple(q["kind"])
            cases.setdefault(key, []).extend(f"{path} {o}".strip() for o in q["names"])
    return cases


def _data_home_sh() -> list[str]:
    """Shell lines (bash and zsh alike) setting $home to musictext's data folder, as platformdirs does."""
    return [
        '  local home="${MUSICTEXT_HOME:-}"',
        '  if [[ -z "$home" ]]; then',
        '    home="${XDG_DATA_HOME:-$HOME/.local/share}/musictext"',
        '    [[ ! -d "$home" && -d "$HOME/Library/Application Support/musictext" ]] &&'
        ' home="$HOME/Library/Application Support/musictext"',
        "  fi",
    ]


def bash(t: dict) -> str:
    models = " ".join(t[""]["builtin_models"])
    lines = [
        "# bash completion for musictext (generated by completions/generate.py; do not edit)",
        "# Model names: the built-in bundles and those in the data folder (no Python runs on <Tab>).",
        "_musictext_models() {",
        *_data_home_sh(),
        "  local m",
        f"  printf '%s\\n' {models}",
        '  for m in "$home"/models/*/manifest.json; do',
        '    [[ -e "$m" ]] && m="${m%/manifest.json}" && printf \'%s\\n\' "${m##*/}"',
        "  done",
        "}",
        "_musictext_complete() {",
        '  case "$1" in',
        '    words) COMPREPLY=($(compgen -W "$2" -- "$cur"));;',
        '    vocab) COMPREPLY=($(compgen -W "$2" -- "$cur") $(compgen -f -- "$cur"));;',
        '    models) COMPREPLY=($(compgen -W "$(_musictext_models)" -- "$cur"));;',
        '    files) COMPREPLY=($(compgen -f -- "$cur"));;',
        '    dirs) COMPREPLY=($(compgen -d -- "$cur"));;',
        "    *) COMPREPLY=();;",
        "  esac",
        "}",
        "_musictext() {",
        "  local cur prev words cmd next w",
        '  cur="${COMP_WORDS[COMP_CWORD]}"',
        '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '  cmd=""',
        '  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do',
        "    [[ $w == -* ]] && continue",
        '    next="${cmd:+$cmd }$w"',
        '    case "$next" in',
    ]
    lines.append("      " + "|".join(f'"{p}"' for p in t if p) + ') cmd="$next";;')
    lines += ["    esac", "  done", "  # the value of an option", '  case "${cmd:+$cmd }$prev" in']
    for key, pairs in _value_cases(t).items():
        lines.append(
            "    "
            + "|".join(f'"{p}"' for p in pairs)
            + f') _musictext_complete {key[0]} "{" ".join(key[1:])}"; return;;'
        )
    lines += ["  esac", '  case "$cmd" in']
    for path, v in t.items():
        words = " ".join(v["subcommands"] + v["options"])
        lines.append(f'    "{path}") words="{words}";;')
    lines += [
        "  esac",
        '  if [[ "$cur" == -* ]]; then',
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "    return",
        "  fi",
        "  # arguments",
        '  case "$cmd" in',
    ]
    for path, v in t.items():
        if v["subcommands"]:
            lines.append(f'    "{path}") _musictext_complete words "{" ".join(v["subcommands"])}";;')
        elif v["args"] and v["args"][0] != "none":
            kind = v["args"]
            lines.append(
                f'    "{path}") _musictext_complete {kind[0]} "{" ".join(kind[1] if len(kind) > 1 else ())}";;'
            )
    lines += [
        '    *) COMPREPLY=($(compgen -W "$words" -- "$cur"));;',
        "  esac",
        "}",
        "complete -o filenames -F _musictext musictext",
        "",
    ]
    return "\n".join(lines)


def zsh(t: dict) -> str:
    models = " ".join(t[""]["builtin_models"])
    complete = {
        "words": "compadd -- {words}",
        "vocab": "compadd -- {words}; _files",
        "models": 'compadd -- ${{(f)"$(_musictext_models)"}}',
        "files": "_files",
        "dirs": "_files -/",
        "none": ":",
    }

    def action(kind) -> str:
        return complete[kind[0]].format(words=" ".join(kind[1]) if len(kind) > 1 else "")

    lines = [
        "#compdef musictext",
        "# zsh completion for musictext (generated by completions/generate.py; do not edit)",
        "# Model names: the built-in bundles and those in the data folder (no Python runs on <Tab>).",
        "_musictext_models() {",
        *_data_home_sh(),
        f'  print -l {models} "$home"/models/*/manifest.json(N:h:t)',
        "}",
        "_musictext() {",
        "  local -a words_here",
        "  local cmd=''",
        "  local w",
        "  local next",
        "  for w in ${words[2,CURRENT-1]}; do",
        "    [[ $w == -* ]] && continue",
        '    next="${cmd:+$cmd }$w"',
        '    case "$next" in',
    ]
    lines.append("      " + "|".join(f'"{p}"' for p in t if p) + ') cmd="$next";;')
    lines += ["    esac", "  done", "  # the value of an option", '  case "${cmd:+$cmd }${words[CURRENT-1]}" in']
    for key, pairs in _value_cases(t).items():
        kind = (key[0], key[1:]) if len(key) > 1 else key
        lines.append("    " + "|".join(f"'{p}'" for p in pairs) + f") {action(kind)}; return;;")
    lines += ["  esac", "  case $cmd in"]
    for path, v in t.items():
        subs = [f"'{s}:{v['help'].get(s, '').replace(chr(39), '')}'" for s in v["subcommands"]]
        opts = " ".join(v["options"])
        lines.append(f"    '{path}')")
        if subs:
            lines.append(f"      local -a subs=({' '.join(subs)})")
            lines.append("      _describe 'command' subs")
            lines.append("      words_here=(" + opts + ")")
            lines.append("      compadd -- $words_here;;")
        else:
            args = action(v["args"]) if v["args"] and v["args"][0] != "none" else "compadd -- $words_here"
            lines.append("      words_here=(" + opts + ")")
            lines.append(f"      if [[ $PREFIX == -* ]]; then compadd -- $words_here; else {args}; fi;;")
    lines += ["  esac", "}", '_musictext "$@"', ""]
    return "\n".join(lines)


def fish(t: dict) -> str:
    models = " ".join(t[""]["builtin_models"])
    lines = [
        "# fish completion for musictext (generated by completions/generate.py; do not edit)",
        "# Model names: the built-in bundles and those in the data folder (no Python runs on <Tab>).",
        "function __musictext_models",
        "    set -l home $MUSICTEXT_HOME",
        '    if test -z "$home"',
        "        set home $HOME/.local/share/musictext",
        "        set -q XDG_DATA_HOME[1]; and set home $XDG_DATA_HOME/musictext",
        '        if not test -d $home; and test -d "$HOME/Library/Application Support/musictext"',
        '            set home "$HOME/Library/Application Support/musictext"',
        "        end",
        "    end",
        f"    printf '%s\\n' {models}",
        "    for m in $home/models/*/manifest.json",
        "        basename (dirname $m)",
        "    end",
        "end",
        "complete -c musictext -f",
    ]

    def value(kind) -> str:
        words = " ".join(kind[1]) if len(kind) > 1 else ""
        return {
            "words": f"-x -a '{words}'",
            "vocab": f"-r -F -a '{words}'",
            "models": "-x -a '(__musictext_models)'",
            "files": "-r -F",
            "dirs": "-x -a '(__fish_complete_directories)'",
            "none": "-x",
        }[kind[0]]

    for path, v in t.items():
        parts = path.split()
        if not parts:
            cond = "__fish_use_subcommand"
        else:
            cond = " && ".join(f"__fish_seen_subcommand_from {p}" for p in parts)
        # A group's subcommands until one of them is given.
        sub_cond = f"{cond} && not __fish_seen_subcommand_from {' '.join(v['subcommands'])}" if parts else cond
        for s in v["subcommands"]:
            desc = v["help"].get(s, "").replace("'", "")
            lines.append(f"complete -c musictext -n '{sub_cond}' -a {s} -d '{desc}'")
        for q in v["params"]:
            flags = " ".join(f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}" for o in q["names"])
            extra = f" {value(q['kind'])}" if q["kind"] else ""
            lines.append(f"complete -c musictext -n '{cond}' {flags}{extra}")
        if parts and not v["subcommands"] and v["args"] and v["args"][0] != "none":
            lines.append(f"complete -c musictext -n '{cond}' {value(v['args']).replace('-r ', '')}")
    return "\n".join(lines) + "\n"


def render() -> dict[Path, str]:
    t = tree()
    return {HERE / "musictext.bash": bash(t), HERE / "_musictext": zsh(t), HERE / "musictext.fish": fish(t)}


def main() -> int:
    files = render()
    if "--check" in sys.argv:
        stale = [p.name for p, text in files.items() if not p.exists() or p.read_text() != text]
        if stale:
            print(f"completions out of date: {', '.join(stale)} (run python completions/generate.py)")
            return 1
        return 0
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
