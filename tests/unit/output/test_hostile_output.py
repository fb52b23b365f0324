"""Remote data is data: names, descriptions and ids holding terminal controls, bidi overrides,
zero-width characters, newlines and GitHub workflow commands come out of every human output
visibly escaped, never raw; no line they are in starts a workflow command; markdown mentions
notify nobody. End to end against the emulator and a connector endpoint on loopback."""

from __future__ import annotations

import re
import unicodedata

import pytest
from e2e import converged

pytestmark = pytest.mark.e2e

#: Managed through --manage-prefix "::" (so plan and apply delete them: they show up in
#: changes, github annotations and the apply report).
PRUNED = {
    "::error::pwned\x1b[2J\x07\u202eevil\u200bzw @org/team": "gone-a1",
    "::warning file=x::pwned\n::error::x \u2066iso\u2069 ##[error]legacy\x9b\x7f": "gone-b2",
}
#: Not managed: listed as unmanaged, each on a line of its own.
UNMANAGED = {
    "\n::notice::x\u2028::error::y": "left-c3",
    "  ::error::indented \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \ufeff\u200d\u061c\u200e\u200f": "left-d4",
}
DESCRIPTION = "desc \x1b]0;title\x07\n::error file=x::pwned @org/team \u202e ```\n```"
UNSAFE = ("Cc", "Cf", "Cs", "Zl", "Zp")
#: ours: known level, properties whose values hold no raw ":" or "," (they are %-encoded)
OUR_ANNOTATION = re.compile(
    r"^::(notice|warning|error) (file=[^,:]+,line=\d+,(col=\d+,)?)?title=conn-reconcile[^,:]*::\S"
)


def raw_unsafe(text: str) -> list[str]:
    return sorted({hex(ord(c)) for c in text if c != "\n" and unicodedata.category(c) in UNSAFE})


def check_output(text: str, *, annotations: bool = False) -> None:
    assert raw_unsafe(text) == [], text
    assert "##[" not in text
    for line in text.split("\n"):
        if line.lstrip().startswith("::"):
            assert annotations and OUR_ANNOTATION.match(line), f"workflow command from data: {line!r}"
            assert line == line.lstrip()


@pytest.fixture
def hostile(project):
    for name, rid in {**PRUNED, **UNMANAGED}.items():
        project.emulator.seed({"name": name, "description": DESCRIPTION, "url": "https://x.example.com/s"}, id=rid)
    renamed_from = "old\x1b[31m\u202e@org/team"
    seeded = project.emulator.seed({"name": renamed_from, "url": f"{project.endpoint_url}/renamed/search"}, id="pin-e5")
    project.write("renamed.yaml", project.connector("renamed", id=seeded["id"]))
    project.write("docs.yaml", project.service("docs"))
    return project


PRUNE = ("--prune", "--manage-prefix", "::", "--force")


def test_plan_in_every_format_escapes_remote_data(hostile):
    text = hostile.run("plan", *PRUNE)
    assert text.code == 0, text.both
    check_output(text.both)
    assert "- delete \\x3a:error::pwned\\x1b[2J\\x07\\u202eevil\\u200bzw @org/team (gone-a1)" in text.out
    assert "\\n::notice::x\\u2028::error::y (left-c3): not managed by conn-reconcile" in text.out
    assert "  \\x3a:error::indented \\x1b]8;;http://evil.example\\x07link" in text.out
    assert '~ name = "old\\u001b[31m\\u202e@org/team" -> "renamed"' in text.out
    assert "#\\x23[error]legacy\\x9b\\x7f" in text.out

    github = hostile.run("plan", *PRUNE, "--format", "github")
    assert github.code == 0, github.both
    check_output(github.both, annotations=True)
    deletes = [line for line in github.out.splitlines() if line.startswith("::warning")]
    assert len(deletes) == 2
    assert any("::delete ::error::pwned\\x1b[2J\\x07\\u202eevil" in line for line in deletes)
    assert any("pwned\\n::error::x \\u2066iso\\u2069 #\\x23[error]legacy" in line for line in deletes)

    md = hostile.run("plan", *PRUNE, "--format", "markdown")
    assert md.code == 0, md.both
    check_output(md.both)
    check_markdown(md.out)


def check_markdown(md: str) -> None:
    lines = md.split("\n")
    fences = [i for i, line in enumerate(lines) if line.startswith("```")]
    assert len(fences) == 2, fences  # the data's ``` cannot open or close a fence
    opening, closing = lines[fences[0]], lines[fences[1]]
    assert opening.startswith(closing) and opening.endswith("diff") and set(closing) == {"`"}
    prose = "\n".join(lines[: fences[0]] + lines[fences[1] + 1 :])
    assert re.findall(r"@(?!&#8203;)", prose) == []
    assert "@&#8203;org/team" in prose and "<b" not in prose
    assert "| `-` delete | \\\\x3a:error::pwned\\\\x1b\\[2J" in prose


def test_apply_progress_and_report_escape_remote_data(hostile):
    apply = hostile.run("apply", "--auto-approve", *PRUNE)
    assert apply.code == 0, apply.both
    check_output(apply.both)
    assert "- deleted \\x3a:error::pwned\\x1b[2J\\x07\\u202eevil\\u200bzw @org/team (gone-a1)" in apply.out
    report = apply.out[apply.out.index("CONNECTOR ") :]
    assert "\\x3a:warning file=x::pwned\\n::error::x \\u2066iso\\u2069 #\\x23[error]legacy\\x9b\\x7f" in report
    assert {c["name"] for c in hostile.emulator.connectors} == {"renamed", "docs", *UNMANAGED}
    converged(hostile, *PRUNE)


def test_validate_escapes_file_names_and_annotations(project):
    project.write("ok.yaml", project.service("ok"))
    bad = project.write("\n::error::x \x1b[31m\u202e.yaml", project.service("bad", colour="red"))
    assert bad.exists()
    for fmt in ("text", "github", "json"):
        run = project.run("validate", "--format", fmt)
        assert run.code == 1, run.both
        check_output(run.both, annotations=fmt == "github")
        assert "colour" in run.both
    text = project.run("validate")
    assert "connectors/\\n::error::x \\x1b[31m\\u202e.yaml:" in text.err


def test_import_with_hostile_names_writes_only_inside_the_directory(project):
    names = ["../../etc/x", "..", "/etc/passwd", "etc x", "\x1b[31m::error::x\n\u202e", "NUL"]
    for name in names:
        project.emulator.seed({"name": name, "url": "https://x.example.com/s"})
    before = {p for p in project.root.parent.rglob("*")}
    run = project.run("import", "--dir", "connectors")
    assert run.code == 0, run.both
    check_output(run.both)
    created = {p for p in project.root.parent.rglob("*")} - before
    target = project.connectors.resolve()
    assert {p.resolve().parent for p in created if p.is_file()} == {target}
    assert len([p for p in created if p.is_file()]) == len(names)
    assert {p.name for p in created if p.is_file()} >= {"etc-passwd.yaml", "nul-connector.yaml", "connector.yaml"}
    assert project.run("validate").code == 0
