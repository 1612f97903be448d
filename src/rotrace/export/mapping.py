"""`--map HOST=IMAGE`: a plan traced on one machine (a CI checkout at /srv/ci/app) written for
another (the image's /app). Each path under HOST is rewritten under IMAGE, the longest HOST
that holds it winning; paths under no HOST stay as they are."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable

from rotrace.errors import BadOption
from rotrace.pathnames import is_under
from rotrace.policy.mounts import MountPlan


def parse_map(value: str) -> tuple[str, str]:
    """HOST=IMAGE, both absolute: split at the first `=/` (HOST may hold `=`, not `=/`)."""
    host, sep, image = value.partition("=/")
    if not sep or not host.startswith("/"):
        raise BadOption(f"--map {value!r}: expected HOST=IMAGE, both absolute paths (/srv/ci/app=/app)")
    # one leading slash: POSIX's normpath keeps two (`//app`), which a runtime reads as `/app`
    return os.path.normpath("/" + host.lstrip("/")), os.path.normpath("/" + image.lstrip("/"))


def given_places(values: Iterable[str], cwd: str | None, maps: Iterable[tuple[str, str]]) -> list[str]:
    """`--persistent PATH`s as the trace names them: a relative PATH is read against the traced
    working directory, an image's path (under a --map IMAGE) as its HOST's."""
    where = PathMap(maps)
    places = []
    for value in values:
        if not value or "\0" in value or (not value.startswith("/") and not cwd):
            raise BadOption(
                f"--persistent {value!r}: expected a path (absolute, or relative to the traced directory)"
            )
        places.append(where.host(os.path.normpath(os.path.join(cwd or "/", value))))
    return places


class PathMap:
    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)  # longest first

    def __call__(self, path: str) -> str:
        for host, image in self.pairs:
            if is_under(path, host):
                rest = path[len(host) :].lstrip("/")
                return os.path.join(image, rest) if rest else image
        return path

    def host(self, path: str) -> str:
        """`path` as the trace names it: under an IMAGE, written under its HOST."""
        for host, image in sorted(self.pairs, key=lambda pair: len(pair[1]), reverse=True):
            if is_under(path, image):
                rest = path[len(image) :].lstrip("/")
                return os.path.join(host, rest) if rest else host
        return path

    def plan(self, plan: MountPlan) -> MountPlan:
        """The plan with every path in it (mounts, persistent and seeded mounts, blocked places, settings
        whose value is a path, the directories and interpreters of the build steps) written as IMAGE names
        it."""
        if not self.pairs:
            return plan
        blocked = [dataclasses.replace(b, point=self(b.point), path=self(b.path)) for b in plan.blocked]
        # the application in a scratch place here, put elsewhere in the image: nothing hides it
        moot = {note for path, note in plan.scratch_app if self(path) != path}
        build = [
            step._replace(directories=tuple(map(self, step.directories)), python=self(step.python))
            for step in plan.build
        ]
        return dataclasses.replace(
            plan,
            mounts=list(dict.fromkeys(map(self, plan.mounts))),
            persistent=list(dict.fromkeys(map(self, plan.persistent))),
            seeded=list(dict.fromkeys(map(self, plan.seeded))),
            blocked=blocked,
            env={name: self(value) if value.startswith("/") else value for name, value in plan.env.items()},
            build_steps=[step.command() for step in build] or plan.build_steps,
            build=build,
            created=list(dict.fromkeys(map(self, plan.created))),
            reowned=list(dict.fromkeys(map(self, plan.reowned))),
            unmet=list(dict.fromkeys(map(self, plan.unmet))),
            crossings=[self.text(crossing) for crossing in plan.crossings],
            notes=[self.text(note) for note in plan.notes if note not in moot],
            scratch_app=[],
        )

    def text(self, text: str) -> str:
        """A note with each path under a HOST written under its IMAGE, in one pass (a path ends
        at a blank, a quote, `:`, `,`, `;` or `)`)."""
        if not self.pairs:
            return text
        images = dict(self.pairs)
        hosts = "|".join(re.escape(host) for host, _image in self.pairs)  # the longest first

        def image(found: re.Match[str]) -> str:
            return images[found.group()]

        return re.sub(rf"(?:{hosts})(?=[/\s'`\":,;)]|$)", image, text)
