"""The plans, examples and compilers of the code generation tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.codegen import generate

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLAN_FILES = {
    "demo_plan.json": ROOT / "app" / "validation" / "demo_plan.json",
    "every_construct_plan.json": HERE / "every_construct_plan.json",
}
EXAMPLES_FILE = HERE / "every_construct_examples.json"
TSC = HERE / "typescript" / "node_modules" / ".bin" / "tsc"
# The real SDKs' type declarations, for the check that their clients fit the generated code.
SDK_NODE_MODULES = ROOT / "tests" / "sdk" / "js" / "node_modules"

# As strict as TypeScript gets: --strict and every check it leaves out.
STRICT_TS = {
    "strict": True,
    "noImplicitAny": True,
    "exactOptionalPropertyTypes": True,
    "noUncheckedIndexedAccess": True,
    "noImplicitReturns": True,
    "noImplicitOverride": True,
    "noUnusedLocals": True,
    "noUnusedParameters": True,
    "noFallthroughCasesInSwitch": True,
    "noPropertyAccessFromIndexSignature": True,
    "erasableSyntaxOnly": True,
    "target": "es2022",
    "module": "commonjs",
    "types": [],
}


def load_plan(name: str) -> dict[str, Any]:
    return json.loads(PLAN_FILES[name].read_text(encoding="utf-8"))


def load_examples() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


def write_generated(plan_name: str, language: str, folder: Path) -> Path:
    """Generate language code for a plan into folder; the path of its one file."""
    files = generate(load_plan(plan_name), language, plan_version=7, app_name="Shop")
    assert len(files) == 1, [f.path for f in files]
    path = folder / files[0].path
    path.write_text(files[0].content, encoding="utf-8")
    return path


def run_tsc(folder: Path, files: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """tsc on files of folder with the strict options (plus options); output not emitted
    unless options say outDir."""
    if not TSC.exists():
        raise AssertionError(f"{TSC} is missing: run `cd {TSC.parents[2]} && npm ci`")
    compiler = {**STRICT_TS, "noEmit": "outDir" not in options, **options}
    config = {"compilerOptions": compiler, "files": files}
    (folder / "tsconfig.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return subprocess.run(
        [str(TSC), "-p", str(folder / "tsconfig.json"), "--pretty", "false"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_mypy(folder: Path, files: list[str]) -> subprocess.CompletedProcess[str]:
    """mypy --strict on files of folder (its cache in folder: each run starts cold)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(folder / ".mypy_cache")]
        + ["--no-error-summary", "--show-error-codes", *files],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


def marked_lines(source: str, mark: str) -> set[int]:
    """The 1-based numbers of the lines of source that end with the comment mark."""
    return {n for n, line in enumerate(source.splitlines(), 1) if line.rstrip().endswith(mark)}
