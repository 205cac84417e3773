"""The stand-in rows of images/official.yaml, checked against the images built here.

The stand-in-parity gate compares these rows with the official images' rows; this test
keeps the rows honest: every listed tool is there, wget and the shell are as stated, the
program is the stated version, and the data directories have the stated owner and mode.
"""

from __future__ import annotations

import shlex

import pytest

from mirante import images, settings, stack
from mirante.images import official
from mirante.tools.docker import docker_errors, run_container

# One stack for the session: these tests run in one xdist worker, in order.

FACTS = official.load(settings.load().root)


@pytest.mark.parametrize("service", sorted(FACTS.stand_ins), ids=sorted(FACTS.stand_ins))
def test_a_stand_in_has_exactly_what_its_row_says(
    service: str, running_stack: stack.UpReport, stack_settings: settings.Settings
) -> None:
    row = FACTS.stand_ins[service]
    docker = stack.write_project_files(stack_settings).docker
    tag = images.built_tag(stack_settings, service, images.effective_source(stack_settings))
    checks = [f"test -x {shlex.quote(tool)} && echo tool {tool}" for tool in row.tools]
    checks += [
        "command -v wget >/dev/null && echo wget",
        "echo user $(id -u)",
        *(f"echo data {d.path} $(stat -c '%u %a' {shlex.quote(d.path)})" for d in row.data),
        f"{shlex.quote(row.binary)} --version 2>&1 | head -n 1",
    ]
    script = "; ".join(f"{{ {c}; }} || true" for c in checks)
    with docker_errors():
        said = run_container(docker, tag, ["-c", script], entrypoint="/bin/sh").splitlines()
    assert sorted(line[5:] for line in said if line.startswith("tool ")) == sorted(row.tools)
    assert ("wget" in said) == row.wget
    assert f"user {row.user}" in said
    for directory in row.data:
        assert f"data {directory.path} {directory.owner} {directory.mode:o}" in said
    version = row.program.split()[1]  # "prometheus 2.42 (Debian)"
    assert version in said[-1], said[-1]
