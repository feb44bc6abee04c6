"""README.md and docs/*.md stay true to the code: line links land on what they name, flags exist, files exist.

The conventions these tests hold the Markdown files to:

- **A link to a line of code** is written ``[TAG](PATH#Lnn)``, PATH relative to the Markdown file, nn one line
  (no ranges). TAG, with its backticks removed, must appear verbatim on line nn of PATH: the map's
  ``[`BP1`](gpubp/model/network.py#L265)`` must land on a line that contains ``BP1``, and a kernel's
  ``[`hidden_delta`](gpubp/backend/kernels.py#L59)`` on a line that contains ``hidden_delta``. When code moves,
  the test names every link that no longer lands on its tag, and the fix is to update the line number.
- **Every other relative link** names a file or folder that exists, and its ``#anchor``, if any, a heading of the
  Markdown file it points to (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens).
- **Flags**: a ``--flag`` in a ``gpubp …`` command (a line of a code block, or an inline code span) must be a flag
  of the subcommand the command names (``gpubp data fetch``: of ``data fetch``), or of any gpubp command where it
  names none; an inline code span that starts with a flag (```--sizes```, ```--cost quadratic```) must be a flag
  of some gpubp command. Flags of other programs are allowed only if listed in ``NOT_GPUBP``. docs/command-line.md
  names every flag of every gpubp command.
- **docs/layout.md** has a table row ```` `path` ```` for each file of gpubp/ (``*.py``), scripts/ and docker/, and
  every path it names exists.
- **The README's Python example** prints what the README shows below it, numbers aside (timings and the last digits
  of a cost differ from machine to machine).
- **Every ``python`` code block** of README.md and docs/*.md runs as it stands, in an empty folder: an example is
  whole (its imports and data in it), not a fragment. Those that fit scikit-learn estimators are marked slow.
"""

import argparse
import contextlib
import io
import re
from pathlib import Path

import pytest

from gpubp.cli import build_parser

from helpers import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
NOT_GPUBP = {"--gpus"}  # docker run's, in docs/gpu-and-containers.md
FENCE = re.compile(r"^ *```.*?^ *```[^\n]*$", re.M | re.S)
LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
FLAG = re.compile(r"(?<![\w-])--[A-Za-z0-9][\w-]*")
COMMAND = re.compile(r"(?<![\w.-])gpubp(?::[\w.-]+)?(?=\s)")


def prose(text: str) -> str:
    """``text`` without its fenced code blocks and its double-backtick spans (which show Markdown, not links)."""
    return re.sub(r"``.+?``", "", FENCE.sub("", text))


def code_lines(text: str) -> list[str]:
    """The lines of the fenced code blocks, a line ending in a backslash joined with the next."""
    lines = []
    for block in FENCE.findall(text):
        body = block.split("\n")[1:-1]
        lines += "\n".join(body).replace("\\\n", " ").split("\n")
    return lines


def inline_code(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose(text))


def slug(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen, found = {}, set()
    for heading in re.findall(r"^#+ (.+)$", FENCE.sub("", path.read_text()), flags=re.M):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def links():
    """``(markdown file, text, target)`` for every relative link of the docs."""
    for doc in DOCS:
        for text, target in LINK.findall(prose(doc.read_text())):
            if not re.match(r"[a-z]+:", target):
                yield doc, text, target


def test_every_line_link_lands_on_its_tag():
    checked, wrong = 0, []
    for doc, text, target in links():
        if "#L" not in target:
            continue
        where = f"{doc.relative_to(REPO)}: [{text}]({target})"
        match = re.fullmatch(r"([^#]+)#L(\d+)", target)
        if match is None:
            wrong.append(f"{where}: a line link is PATH#Lnn, one line")
            continue
        path, number = (doc.parent / match.group(1)).resolve(), int(match.group(2))
        if not path.is_file():
            wrong.append(f"{where}: {match.group(1)} does not exist")
            continue
        lines = path.read_text().splitlines()
        tag = text.replace("`", "").strip()
        if number > len(lines) or tag not in lines[number - 1]:
            found = [k for k, line in enumerate(lines, start=1) if tag in line]
            wrong.append(f"{where}: line {number} does not contain {tag!r} (lines that do: {found})")
        checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked >= 10  # the README's map links BP1–BP4 and the SGD step at least


def test_every_other_relative_link_and_anchor_exists():
    wrong = []
    for doc, text, target in links():
        if "#L" in target:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            wrong.append(f"{doc.relative_to(REPO)}: [{text}]({target}): {file} does not exist")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            wrong.append(f"{doc.relative_to(REPO)}: [{text}]({target}): no heading #{anchor} in {file or doc.name}")
    assert not wrong, "\n".join(wrong)


def commands(parser, path=()):
    """``{command path: its flags}`` for ``gpubp`` and every subcommand, ``()`` being ``gpubp`` itself."""
    found = {path: {option for action in parser._actions for option in action.option_strings}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(commands(sub, (*path, name)))
    return found


FLAGS = commands(build_parser())
ALL_FLAGS = set().union(*FLAGS.values())


def flags_of_commands(line: str):
    """``(command path, flag)`` for each flag of each ``gpubp`` command in ``line``."""
    matches = list(COMMAND.finditer(line))
    ends = [match.start() for match in matches[1:]] + [len(line)]
    for match, end in zip(matches, ends):
        rest = re.split(r" (?:&&|\||;) ", line[match.end() : end])[0]  # up to the next command
        words, path = rest.split(), ()
        while len(words) > len(path) and (*path, words[len(path)]) in FLAGS:
            path = (*path, words[len(path)])
        for flag in FLAG.findall(rest):
            yield path, flag


def test_every_flag_in_the_docs_is_a_flag_of_gpubp():
    wrong, checked = [], 0
    for doc in DOCS:
        text = doc.read_text()
        for line in code_lines(text) + inline_code(text):
            for path, flag in flags_of_commands(line):
                valid = FLAGS[path] if path else ALL_FLAGS
                checked += 1
                if flag not in valid and flag not in NOT_GPUBP:
                    wrong.append(f"{doc.relative_to(REPO)}: {flag} is not a flag of gpubp {' '.join(path)}: {line}")
        for span in inline_code(text):
            first = span.split()[0]
            if first.startswith("--") and FLAG.fullmatch(first):
                checked += 1
                if first not in ALL_FLAGS and first not in NOT_GPUBP:
                    wrong.append(f"{doc.relative_to(REPO)}: `{span}`: {first} is no flag of any gpubp command")
    assert not wrong, "\n".join(wrong)
    assert checked >= 100


def test_the_command_line_doc_names_every_flag():
    text = (REPO / "docs" / "command-line.md").read_text()
    missing = sorted(
        flag for flag in ALL_FLAGS - {"-h", "--help"} if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
    )
    assert not missing, f"docs/command-line.md does not mention {missing}"


def test_the_layout_names_every_file_and_only_files_that_exist():
    rows = re.findall(r"^\| `([^`]+)` \|", (REPO / "docs" / "layout.md").read_text(), flags=re.M)
    assert not [row for row in rows if not (REPO / row).exists()], "docs/layout.md names paths that do not exist"
    files = [p for p in (REPO / "gpubp").rglob("*.py") if "__pycache__" not in p.parts]
    files += [p for folder in ("scripts", "docker") for p in (REPO / folder).iterdir() if p.is_file()]
    missing = sorted(str(p.relative_to(REPO)) for p in files if str(p.relative_to(REPO)) not in rows)
    assert not missing, f"docs/layout.md has no row for {missing}"


def block_after(text: str, heading: str, language: str) -> str:
    section = text.split(heading, 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def without_numbers(text: str) -> list[str]:
    return [re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "N", line.replace("…", "")) for line in text.strip().splitlines()]


def test_the_readme_python_example_prints_what_the_readme_shows(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    code = block_after(readme, "## From Python", "python")
    shown = block_after(readme.split("## From Python", 1)[1], code, "text")
    monkeypatch.chdir(tmp_path)  # the example saves digits.npz
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert without_numbers(out.getvalue()) == without_numbers(shown)
    assert (tmp_path / "digits.npz").is_file()


@pytest.mark.parametrize("heading", ["## Quickstart", "## From Python", "## From scikit-learn"])
def test_the_readme_keeps_the_sections_other_tests_and_ci_read(heading):
    assert heading in (REPO / "README.md").read_text()


def python_blocks_and_outputs(text: str) -> list[tuple[str, str]]:
    """Each ```python block of a page with the ```text block that follows it (what the page says it prints)."""
    pairs = []
    for part in text.split("```python\n")[1:]:
        code, rest = part.split("```", 1)
        pairs.append((code, rest.split("```text\n", 1)[1].split("```", 1)[0]))
    return pairs


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks_and_outputs((REPO / "docs/arrays.md").read_text()))))
def test_each_python_example_of_the_arrays_page_prints_what_it_shows(index, tmp_path, monkeypatch):
    code, shown = python_blocks_and_outputs((REPO / "docs/arrays.md").read_text())[index]
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/arrays.md", "exec"), {})
    assert without_numbers(out.getvalue()) == without_numbers(shown)


def python_examples():
    """A ``pytest.param`` of ``(markdown file, code)`` for every ``python`` block of the docs, named by its heading."""
    for doc in DOCS:
        text = doc.read_text()
        for number, match in enumerate(re.finditer(r"^```python\n(.*?)^```", text, flags=re.M | re.S), start=1):
            heading = re.findall(r"^#+ (.+)$", text[: match.start()], flags=re.M)[-1]
            marks = [pytest.mark.slow] if "sklearn" in match.group(1) else []  # estimators' fits take seconds
            name = f"{doc.relative_to(REPO)} #{number} ({heading})"
            yield pytest.param(doc, match.group(1), id=name, marks=marks)


@pytest.mark.parametrize("doc, code", list(python_examples()))
def test_every_python_example_in_the_docs_runs(doc, code, tmp_path, monkeypatch):
    if "sklearn" in code:
        pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)  # examples may write files (digits.npz)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, str(doc), "exec"), {"__name__": "__main__"})
