"""``dcbench leaderboard RESULTS --latex DIR``: booktabs tables shaped like the DCOD paper's, escaped, with the best
mean in bold and significant differences to Random marked; compiled where a TeX engine is installed, otherwise
checked for structure (balanced environments and braces, a cell count per row that matches the column spec)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dcbench.cli.app import main
from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.latex import LOSS, WIN, escape, to_latex
from dcbench.leaderboard.tables import summarise
from tests.test_leaderboard import fake_result

AWKWARD = {"note": "50%_&#$~^{x}\\[y]"}  # every character LaTeX treats specially, in a row's name


@pytest.fixture
def results(tmp_path) -> Path:
    root = tmp_path / "results"
    for seed in range(3):
        for ratio in (0.005, 0.01):
            fake_result(root, "random", ratio, seed, 10.0 + seed)
            fake_result(root, "dcod", ratio, seed, 12.0 + seed + 0.1 * seed**2)  # ahead on every seed: a win
        fake_result(root, "herding", 0.01, seed, 7.0 + seed - 0.05 * seed)  # behind on every seed: a loss
        fake_result(root, "dcod", 0.01, seed, 5.0 + seed, variant=AWKWARD)
        fake_result(root, "full", 1.0, seed, 70.0 + seed, full=True)
    return root


def columns_of(spec: str) -> int:
    return len(re.findall(r"[lcr]", spec))


def cells_in(row: str) -> int:
    """Columns a tabular row fills: its cells, a \\multicolumn counting as its span."""
    cells = re.split(r"(?<!\\)&", row.removesuffix(r"\\").strip())
    return sum(int(m.group(1)) if (m := re.match(r"\s*\\multicolumn\{(\d+)\}", c)) else 1 for c in cells)


def check_structure(tex: str) -> None:
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, f"\\end{{{env}}} closes nothing open"
    assert not stack, f"unclosed: {stack}"
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    text = "\n".join(body)
    assert text.count("{") - text.count("\\{") == text.count("}") - text.count("\\}")
    for line in body:
        assert not re.search(r"(?<!\\)[_%#]", line), f"unescaped character in: {line}"
    spec = re.search(r"\\begin\{tabular\}\{([^}]*)\}", text).group(1)
    inside = text.split(spec + "}", 1)[1].split("\\end{tabular}")[0]
    rows = [line for line in inside.splitlines() if line.rstrip().endswith("\\\\")]
    assert rows and all(cells_in(row) == columns_of(spec) for row in rows), (spec, rows)
    positions = [text.index(rule) for rule in ("\\toprule", "\\midrule", "\\bottomrule")]
    assert positions == sorted(positions)


def test_escape():
    assert escape("a_b 5% & $x# {y}") == r"a\_b 5\% \& \$x\# \{y\}"
    assert escape("~^\\[z]") == r"\textasciitilde{}\textasciicircum{}\textbackslash{}{[}z{]}"


def test_shaped_like_the_paper_with_bold_bests_and_marked_wins(results):
    table = summarise(load_results(results))[0]
    tex = to_latex(table)
    check_structure(tex)
    assert "\\begin{tabular}{lcc cc}" in tex  # a label column, then mAP and AP50 per ratio
    assert "\\multicolumn{2}{c}{0.5\\,\\% (5 img)}" in tex and "\\cmidrule(lr){4-5}" in tex
    dcod = next(line for line in tex.splitlines() if line.startswith("dcod &"))
    assert dcod.startswith(r"dcod & \textbf{13.17}\,$\pm$\,1.20" + WIN)  # best at 0.5 %, above Random on every seed
    herding = next(line for line in tex.splitlines() if line.startswith("herding &"))
    assert herding.startswith("herding & -- & --") and LOSS in herding  # not run at 0.5 %; behind Random at 1 %
    assert r"dcod (note=50\%\_\&\#\$\textasciitilde{}\textasciicircum{}\{x\}\textbackslash{}{[}y{]})" in tex
    assert r"Full train set (1000 img) & \multicolumn{4}{c}{mAP 71.00\,$\pm$\,1.00" in tex


def test_the_command_writes_a_file_per_table_and_leaves_the_rest(results, tmp_path, capsys):
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text("mine")
    fake_result(results, "random", 0.01, 0, 9.0, eval_detector="faster-rcnn")
    assert main(["leaderboard", str(results), "--latex", str(paper)]) == 0
    assert sorted(p.name for p in paper.iterdir()) == [
        "main.tex",
        "shapes__faster-rcnn__quick.tex",
        "shapes__yolov3-tiny__quick.tex",
    ]
    assert (paper / "main.tex").read_text() == "mine" and not (tmp_path / "leaderboards").exists()
    capsys.readouterr()
    assert main(["leaderboard", str(tmp_path / "nothing"), "--latex", str(paper)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def _engine() -> str | None:
    # tectonic is left out: it fetches its TeX bundle from the network on first use
    return next((e for e in ("pdflatex", "lualatex", "xelatex") if shutil.which(e)), None)


def test_it_compiles(results, tmp_path):
    engine = _engine()
    if engine is None:
        pytest.skip("no TeX engine (pdflatex, lualatex, xelatex): the structure test above stands in")
    out = tmp_path / "tex"
    assert main(["leaderboard", str(results), "--latex", str(out)]) == 0
    inputs = "".join(f"\\input{{{p.name}}}\n" for p in sorted(out.glob("*.tex")))
    (out / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + inputs + "\\end{document}\n"
    )
    run = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (out / "doc.pdf").stat().st_size > 1000
