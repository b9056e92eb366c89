"""Checks which wheels get built, without building any (no Docker here).

1. For each platform, cibuildwheel with pyproject.toml's [tool.cibuildwheel]
   selects exactly the intended identifiers: CPython 3.10 to 3.14 on
   manylinux x86_64/aarch64, musllinux x86_64, macOS x86_64/arm64 and
   Windows AMD64.
2. The matrix of .github/workflows/wheels.yml, each entry restricted to its
   CIBW_ARCHS, builds each of them exactly once.
3. The workflow runs the cibuildwheel release installed here.

Run from the repository root with cibuildwheel and PyYAML installed.
"""

import os
import subprocess
import sys

import cibuildwheel
import yaml

PYTHONS = ["cp310", "cp311", "cp312", "cp313", "cp314"]
PLATFORM_TAGS = {
    "linux": ["manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64"],
    "macos": ["macosx_x86_64", "macosx_arm64"],
    "windows": ["win_amd64"],
}
RUNNER_PLATFORMS = {"ubuntu": "linux", "macos": "macos", "windows": "windows"}
WORKFLOW = ".github/workflows/wheels.yml"


def build_identifiers(platform, archs=None):
    env = {name: value for name, value in os.environ.items() if not name.startswith("CIBW_")}
    if archs is not None:
        env["CIBW_ARCHS"] = archs
    output = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers", "--platform", platform],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    return set(output.split())


def main():
    problems = []
    expected_all = set()
    for platform, tags in PLATFORM_TAGS.items():
        expected = {f"{python}-{tag}" for python in PYTHONS for tag in tags}
        expected_all |= expected
        selected = build_identifiers(platform)
        print(f"{platform}: {len(selected)} builds: {' '.join(sorted(selected))}")
        if selected != expected:
            problems.append(
                f"{platform}: missing {sorted(expected - selected)}, unexpected {sorted(selected - expected)}"
            )

    with open(WORKFLOW) as file:
        workflow = yaml.safe_load(file)
    wheels_job = workflow["jobs"]["wheels"]
    built = {}
    for entry in wheels_job["strategy"]["matrix"]["include"]:
        platform = RUNNER_PLATFORMS[entry["os"].split("-")[0]]
        for identifier in build_identifiers(platform, entry["archs"]):
            if identifier in built:
                problems.append(f"{identifier} is built by both {built[identifier]} and {entry['os']}")
            built[identifier] = entry["os"]
    if set(built) != expected_all:
        problems.append(
            f"{WORKFLOW} matrix: missing {sorted(expected_all - set(built))}, "
            f"unexpected {sorted(set(built) - expected_all)}"
        )
    print(f"{WORKFLOW}: {len(built)} builds over {len(wheels_job['strategy']['matrix']['include'])} runners")

    actions = [step.get("uses", "") for step in wheels_job["steps"]]
    pinned = f"pypa/cibuildwheel@v{cibuildwheel.__version__}"
    if pinned not in actions:
        problems.append(f"{WORKFLOW} should use {pinned}, the release checked here; it uses {actions}")

    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
