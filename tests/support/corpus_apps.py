"""A corpus of real applications nobody here tuned for (web apps, migrations, rendering, site and
package builds, a CI venv), each on a small project of its own, run the way its users run it.

For each: the plain run under a bare read-only root (no plan) must fail (the workload really
writes); the traced run gives a plan (`rotrace allowlist --format bwrap`: mounts and settings;
the plan's build steps); the replay starts from the tree as it was before the trace (no
bytecode, database or cache the trace made), runs the build steps, then the workload under the
bwrap export's arguments verbatim, followed in the same sandbox by a functional check written
from the workload itself (the HTTP bodies, the rows read back, the file produced).

Packages are pinned (transitive ones too) and downloaded once into the corpus cache
(tests/support/corpus.py), then installed offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.corpus import cached_venv, pinned_wheels
from tests.support.plans import plan_of as plan_from_trace

# What the applications import, every distribution pinned: the corpus must be the same everywhere.
PACKAGES = (
    "flask==3.0.3", "werkzeug==3.1.9", "jinja2==3.1.4", "markupsafe==3.0.4", "itsdangerous==2.2.0",
    "click==8.5.1", "blinker==1.9.0", "waitress==3.0.0", "gunicorn==23.0.0", "packaging==26.4",
    "django==5.0.9", "asgiref==3.13.0", "sqlparse==0.6.1",
    "alembic==1.13.3", "sqlalchemy==2.0.36", "greenlet==3.5.6", "mako==1.4.3", "typing-extensions==4.16.0",
    "matplotlib==3.9.2", "numpy==2.4.6", "contourpy==1.3.3", "cycler==0.12.1", "fonttools==4.68.0",
    "kiwisolver==1.5.1", "pillow==13.0.0", "pyparsing==3.3.3", "python-dateutil==4.0.0",
    "babel==2.16.0", "joblib==1.4.2",
    "build==1.2.2", "pyproject-hooks==1.3.3", "setuptools==75.2.0", "wheel==0.44.0",
    "mkdocs==1.6.1", "markdown==3.11.3", "pyyaml==6.0.4", "pyyaml-env-tag==1.1", "watchdog==7.1.0",
    "ghp-import==2.1.0", "mergedeep==1.3.4", "mkdocs-get-deps==0.2.2", "pathspec==1.1.1",
    "platformdirs==4.14.9",
    "starlette==0.41.3", "uvicorn==0.32.1", "anyio==4.16.0", "h11==0.16.0", "idna==3.20",
    "pandas==2.2.3", "pytz==2026.6", "tzdata==2026.6",
    # the hold-outs (added after the planner and the known-writer table were done)
    "fastapi==0.133.1", "pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0",
    "annotated-doc==0.0.7", "typing-inspection==0.4.5",
    "nbclient==0.11.0", "nbformat==5.11.1", "ipykernel==7.4.0", "ipython==9.18.1", "jupyter-client==8.10.0",
    "jupyter-core==5.9.1", "traitlets==5.16.1", "tornado==6.6.1", "pyzmq==27.3.0", "comm==0.2.3",
    "debugpy==1.8.22", "psutil==7.2.2", "nest-asyncio2==1.7.4", "matplotlib-inline==0.2.2",
    "ipython-pygments-lexers==1.1.1", "pygments==2.21.0", "jedi==0.20.1", "parso==0.8.7",
    "prompt-toolkit==3.0.53", "wcwidth==0.9.4", "stack-data==0.6.3", "asttokens==3.0.2",
    "executing==2.3.0", "pure-eval==0.2.4", "pexpect==4.9.0", "ptyprocess==0.7.0",
    "fastjsonschema==2.22.3", "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0", "rpds-py==2026.9.1", "attrs==26.1.0",
    "pytest==9.2.0", "pluggy==1.7.0", "iniconfig==2.3.1", "hypothesis==6.170.17", "sortedcontainers==2.4.0",
    "pre-commit==4.7.0", "cfgv==3.5.0", "identify==2.6.20", "nodeenv==1.12.0", "virtualenv==21.15.13",
    "distlib==0.4.4", "filelock==4.3.2", "python-discovery==1.9.7",
    "numba==0.68.1", "llvmlite==0.50.0",
    # the second hold-outs (added after the first hold-outs' fixes)
    "loguru==0.7.3", "diskcache==5.6.3",
    # the third hold-outs: a linter's statistics, a project generator, a Bottle app on SQLite
    "pylint==3.3.1", "astroid==3.3.11", "dill==0.4.1", "isort==5.13.2", "mccabe==0.7.0", "tomlkit==0.15.3",
    "cookiecutter==2.6.0", "arrow==1.4.0", "binaryornot==0.6.0", "python-slugify==9.2.0",
    "text-unidecode==1.3", "rich==15.0.0", "markdown-it-py==4.3.0", "mdurl==0.1.2", "requests==2.34.2",
    "certifi==2026.10.19.post1", "charset-normalizer==3.5.3", "urllib3==2.8.0",
    "bottle==0.13.2",
)  # fmt: skip
CI_WHEEL = "itsdangerous==2.2.0"  # what the CI job installs into its throwaway venv


def wheelhouse() -> Path:
    """Every wheel the applications need, downloaded once."""
    return pinned_wheels("app-wheels", list(PACKAGES))


def apps_venv() -> Path:
    """A venv with the packages and their bytecode, as an image's `pip install` leaves it."""
    venv, made = cached_venv("apps-venv", list(PACKAGES), wheelhouse())
    if made:
        # pytest rewrites its plugins' modules (Hypothesis's) into bytecode of its own at first
        # start: done here, as an image build would, so that no run writes into the venv
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        with tempfile.TemporaryDirectory() as empty:
            subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "--collect-only", "-q"], cwd=empty,
                           env=env, check=False, capture_output=True, timeout=600)  # fmt: skip
        (venv / ".complete").touch()
    return venv


PROBE = """\
'''Start the server (the arguments; {port} a free port), send a few requests, stop it with SIGTERM.'''
import signal
import socket
import subprocess
import sys
import time
import urllib.request

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen([a.replace("{port}", str(port)) for a in sys.argv[1:]])
try:
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the server did not listen (status {server.poll()})")
            time.sleep(0.1)
    url = f"http://127.0.0.1:{port}/notes"
    for body in ("first", "second"):
        request = urllib.request.Request(url, data=body.encode(), method="POST")
        with urllib.request.urlopen(request, timeout=60) as r:
            assert r.status == 201, r.status
    with urllib.request.urlopen(url, timeout=60) as r:
        print(r.read().decode(), end="")
finally:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
"""

NOTES = """\
import os
import sqlite3

from flask import Flask, g, request

app = Flask(__name__)


def db():
    if "db" not in g:
        os.makedirs(app.instance_path, exist_ok=True)
        g.db = sqlite3.connect(os.path.join(app.instance_path, "notes.sqlite"))
        g.db.execute("create table if not exists notes (body text)")
    return g.db


@app.teardown_appcontext
def close(exc):
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


@app.post("/notes")
def add():
    conn = db()
    conn.execute("insert into notes values (?)", (request.get_data(as_text=True),))
    conn.commit()
    return "ok\\n", 201


@app.get("/notes")
def notes():
    return "".join(f"{body}\\n" for (body,) in db().execute("select body from notes order by rowid"))
"""

FLASK_TREE = {"notes.py": NOTES, "probe.py": PROBE}

STARLETTE_TREE = {
    "probe.py": PROBE,
    "notes_asgi.py": """\
        import os

        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        LOG = os.path.join("var", "notes.log")


        async def notes(request):
            if request.method == "POST":
                os.makedirs("var", exist_ok=True)
                with open(LOG, "a") as f:
                    f.write((await request.body()).decode() + "\\n")
                return PlainTextResponse("ok\\n", status_code=201)
            try:
                with open(LOG) as f:
                    return PlainTextResponse(f.read())
            except FileNotFoundError:
                return PlainTextResponse("")


        app = Starlette(routes=[Route("/notes", notes, methods=["GET", "POST"])])
        """,
}

DJANGO_TREE = {
    "manage.py": """\
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
        """,
    "mysite/__init__.py": "",
    "mysite/settings.py": """\
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "corpus-not-secret"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        INSTALLED_APPS = [
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.staticfiles",
            "polls",
        ]
        DATABASES = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "data" / "db.sqlite3"}
        }
        STATIC_URL = "static/"
        STATIC_ROOT = BASE_DIR / "staticfiles"
        USE_TZ = True
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        """,
    "polls/__init__.py": "",
    "polls/models.py": """\
        from django.db import models


        class Question(models.Model):
            text = models.CharField(max_length=200)
        """,
    "polls/migrations/__init__.py": "",
    "polls/migrations/0001_initial.py": """\
        from django.db import migrations, models


        def first_question(apps, schema_editor):
            apps.get_model("polls", "Question").objects.create(text="What's new?")


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Question",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                        ("text", models.CharField(max_length=200)),
                    ],
                ),
                migrations.RunPython(first_question),
            ]
        """,
    "polls/static/polls/style.css": "li { color: green; }\n",
    "data/": "",
}

ALEMBIC_TREE = {
    "alembic.ini": """\
        [alembic]
        script_location = migrations
        sqlalchemy.url = sqlite:///data/app.db
        """,
    "migrations/env.py": """\
        from alembic import context
        from sqlalchemy import engine_from_config, pool

        config = context.config
        section = config.get_section(config.config_ini_section)
        engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
        """,
    "migrations/versions/0001_accounts.py": """\
        import sqlalchemy as sa
        from alembic import op

        revision = "0001"
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            table = op.create_table(
                "account",
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(50), nullable=False),
            )
            op.bulk_insert(table, [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}])


        def downgrade():
            op.drop_table("account")
        """,
    "data/": "",
}

MATPLOTLIB_TREE = {
    "plot.py": """\
        import os

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs("out", exist_ok=True)
        fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
        ax.plot([1, 2, 3], [1, 4, 9], label="squares")
        ax.set_title("Squares")
        ax.legend()
        fig.savefig("out/chart.png")
        """,
}

JINJA_TREE = {
    "build.py": """\
        import pathlib

        from jinja2 import Environment, FileSystemLoader, select_autoescape

        env = Environment(loader=FileSystemLoader("templates"), autoescape=select_autoescape())
        out = pathlib.Path("_site")
        out.mkdir(exist_ok=True)
        pages = {"index.html": ["a & b", "c"], "about.html": ["us"]}
        for name, items in pages.items():
            (out / name).write_text(env.get_template("page.html").render(title=name, items=items))
        """,
    "templates/base.html": "<html><title>{{ title }}</title>"
    "<body>{% block body %}{% endblock %}</body></html>\n",
    "templates/page.html": """\
        {% extends "base.html" %}
        {% block body %}<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>{% endblock %}
        """,
}

MKDOCS_TREE = {
    "mkdocs.yml": "site_name: Corpus docs\n",
    "docs/index.md": "# Hello corpus\n\nSome *text*.\n",
    "docs/usage.md": "# Usage\n\nRun it.\n",
}

PACKAGE_TREE = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "corpus-greet"
        version = "1.0"
        """,
    "src/greet/__init__.py": "def hello():\n    return 'hello'\n",
    "README.md": "greet\n",
}

BABEL_TREE = {
    "locale/fr/LC_MESSAGES/messages.po": """\
        msgid ""
        msgstr ""
        "Content-Type: text/plain; charset=UTF-8\\n"
        "Language: fr\\n"

        msgid "Hello"
        msgstr "Bonjour"
        """,
}

JOBLIB_TREE = {
    "compute.py": """\
        from joblib import Memory

        memory = Memory("cache", verbose=0)


        @memory.cache
        def square(x):
            return x * x


        print([square(i) for i in range(4)])
        """,
}

PANDAS_TREE = {
    "sales.csv": "region,amount\nwest,5\neast,10\neast,20\n",
    "report.py": """\
        import os

        import pandas as pd

        sales = pd.read_csv("sales.csv")
        summary = sales.groupby("region", as_index=False)["amount"].sum()
        os.makedirs("out", exist_ok=True)
        summary.to_csv("out/summary.csv", index=False)
        summary.to_pickle("out/summary.pkl")
        """,
}

CI_TREE = {"requirements.txt": CI_WHEEL + "\n"}

# -- the hold-outs ------------------------------------------------------------------------------

FASTAPI_TREE = {
    "probe.py": PROBE,
    "notes_api.py": """\
        import sqlite3

        from fastapi import FastAPI, Request
        from fastapi.responses import PlainTextResponse

        DB = "data/notes.db"
        app = FastAPI()


        def connect():
            conn = sqlite3.connect(DB)
            conn.execute("pragma journal_mode=wal")
            conn.execute("create table if not exists notes (body text)")
            return conn


        @app.post("/notes", status_code=201, response_class=PlainTextResponse)
        async def add(request: Request):
            body = (await request.body()).decode()
            with connect() as conn:
                conn.execute("insert into notes values (?)", (body,))
            return "ok\\n"


        @app.get("/notes", response_class=PlainTextResponse)
        def notes():
            with connect() as conn:
                return "".join(f"{b}\\n" for (b,) in conn.execute("select body from notes order by rowid"))
        """,
    "data/": "",
}

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
         "source": ["import statistics\n", "values = [3, 1, 4, 1, 5, 9, 2, 6]\n",
                    "print('mean', statistics.mean(values))"]},
        {"cell_type": "code", "execution_count": None, "id": "c2", "metadata": {}, "outputs": [],
         "source": ["sorted(values)[-3:]"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}  # fmt: skip

NOTEBOOK_TREE = {
    "notebooks/analysis.ipynb": json.dumps(NOTEBOOK, indent=1),
    "notebooks/executed/": "",
}

IPYTHON_TREE = {"setup.txt": "ipython -c\n"}

PYTEST_TREE = {
    "pyproject.toml": """\
        [tool.pytest.ini_options]
        testpaths = ["tests"]
        """,
    "shapes.py": """\
        def area(w, h):
            if w < 0 or h < 0:
                raise ValueError("negative side")
            return w * h
        """,
    "tests/test_shapes.py": """\
        import pytest
        from hypothesis import given, strategies as st

        from shapes import area


        @given(st.integers(0, 1000), st.integers(0, 1000))
        def test_area_commutes(w, h):
            assert area(w, h) == area(h, w)


        def test_negative():
            with pytest.raises(ValueError):
                area(-1, 2)


        def test_writes_a_report(tmp_path):
            out = tmp_path / "report.txt"
            out.write_text(str(area(2, 3)))
            assert out.read_text() == "6"
        """,
}

PRE_COMMIT_TREE = {
    ".pre-commit-config.yaml": """\
        repos:
          - repo: local
            hooks:
              - id: json
                name: check json
                entry: python -m json.tool
                language: system
                files: \\.json$
              - id: no-todo
                name: no TODO
                entry: TODO
                language: pygrep
                types: [python]
        """,
    "config.json": '{"name": "corpus", "debug": false}\n',
    "app.py": "print('hello')\n",
}
GIT_INIT = (
    "git init -q -b main . && git add -A && "
    "git -c user.name=corpus -c user.email=corpus@example.invalid commit -q -m init"
)

LOGURU_TREE = {
    "worker.py": """\
        from loguru import logger

        logger.remove()
        logger.add("logs/worker.log", rotation="300 B", retention=2, format="{message}")
        for job in range(20):
            logger.info(f"job {job} done")
        print("done")
        """,
}

DISKCACHE_TREE = {
    "memo.py": """\
        import diskcache

        cache = diskcache.Cache("var/cache")


        @cache.memoize()
        def triple(x):
            return x * 3


        print([triple(i) for i in range(3)], [triple(i) for i in range(3)])
        """,
}

PYLINT_TREE = {
    "pkg/__init__.py": '''"""A small package."""\n''',
    "pkg/mod.py": """\
        \"\"\"Module.\"\"\"
        import os


        def add(a, b):
            \"\"\"Add.\"\"\"
            unused = 1
            return a + b + len(os.sep)
        """,
}

COOKIECUTTER_TREE = {
    "tpl/cookiecutter.json": """\
        {"project_name": "Demo Project",
         "project_slug": "{{ cookiecutter.project_name.lower().replace(' ', '_') }}"}
        """,
    "tpl/{{cookiecutter.project_slug}}/README.md": "# {{cookiecutter.project_name}}\n",
}

BOTTLE_TREE = {
    "probe.py": PROBE,
    "notes_bottle.py": """\
        import os
        import sqlite3
        import sys

        import bottle

        DB = os.path.join("data", "notes.db")
        app = bottle.Bottle()


        def db():
            os.makedirs("data", exist_ok=True)
            conn = sqlite3.connect(DB)
            conn.execute("create table if not exists notes (body text)")
            return conn


        @app.post("/notes")
        def add():
            with db() as conn:
                conn.execute("insert into notes values (?)", (bottle.request.body.read().decode(),))
            bottle.response.status = 201
            return "ok\\n"


        @app.get("/notes")
        def notes():
            with db() as conn:
                rows = conn.execute("select body from notes order by rowid")
                return "".join(f"{body}\\n" for (body,) in rows)


        bottle.run(app, host="127.0.0.1", port=int(sys.argv[1]), quiet=True)
        """,
}

NUMBA_TREE = {
    "kernels.py": """\
        import numpy as np
        from numba import njit


        @njit(cache=True)
        def moving_sum(a, k):
            out = np.empty(a.size - k + 1)
            for i in range(out.size):
                out[i] = a[i : i + k].sum()
            return out
        """,
    "run.py": """\
        import numpy as np

        from kernels import moving_sum

        print(moving_sum(np.arange(6.0), 3).tolist())
        """,
}


def _sqlite_rows(path: str, query: str) -> str:
    db = f"sqlite3.connect('file:{path}?mode=ro', uri=True)"
    return f"import sqlite3; print({db}.execute({query!r}).fetchall())"


PNG_SIZE = (
    "import struct; d = open('out/chart.png', 'rb').read(24); "
    "print(d[:8] == b'\\x89PNG\\r\\n\\x1a\\n', struct.unpack('>II', d[16:24]))"
)


@dataclass(frozen=True)
class App:
    """One application: its tree, how its users run it ({py}/{bin}: the venv's python and bin;
    {wheels}: the wheelhouse), and the functional check run after it in the same sandbox."""

    name: str
    tree: dict[str, str]
    argv: tuple[str, ...]
    expected: str  # the end of the sandbox's output: the workload's own, then the check's
    check: str | None = None  # python source run (isolated) in the tree after the workload
    env: tuple[tuple[str, str], ...] = ()
    xfail: str | None = None  # a rotrace defect that keeps the plan from holding
    # a command no read-only root can hold: the plan must say why (the place no mount can make
    # writable, relative to the tree, "" for the tree itself), and export with exit status 1
    refused: str | None = None
    prepare: str | None = None  # a shell line that completes the tree before any run (a git repository)
    holdout: bool = False  # added after the planner and the known-writer table were done


def _sh(line: str) -> tuple[str, ...]:
    return ("sh", "-c", line)


APPS = (
    App(
        "flask-waitress",
        FLASK_TREE,
        ("{py}", "probe.py", "{bin}/waitress-serve", "--listen=127.0.0.1:{port}", "notes:app"),
        "first\nsecond\n",
    ),
    App(
        "flask-gunicorn",
        FLASK_TREE,
        ("{py}", "probe.py", "{bin}/gunicorn", "-b", "127.0.0.1:{port}", "-w", "1", "notes:app"),
        "first\nsecond\n",
    ),
    App(
        "starlette-uvicorn",
        STARLETTE_TREE,
        ("{py}", "probe.py", "{bin}/uvicorn", "--host", "127.0.0.1", "--port", "{port}", "notes_asgi:app"),
        "first\nsecond\n",
    ),
    App(
        "django-migrate-collectstatic",
        DJANGO_TREE,
        _sh("{py} manage.py migrate --noinput -v0 && {py} manage.py collectstatic --noinput -v0"),
        '[("What\'s new?",)] True\n',
        check=_sqlite_rows("data/db.sqlite3", "select text from polls_question")[:-1]
        + ", __import__('os').path.isfile('staticfiles/polls/style.css'))",
    ),
    App(
        "alembic-upgrade",
        ALEMBIC_TREE,
        ("{bin}/alembic", "upgrade", "head"),
        "[(1, 'ada'), (2, 'grace')]\n",
        check=_sqlite_rows("data/app.db", "select id, name from account order by id"),
    ),
    App("matplotlib-agg", MATPLOTLIB_TREE, ("{py}", "plot.py"), "True (400, 300)\n", check=PNG_SIZE),
    App(
        "jinja2-site",
        JINJA_TREE,
        ("{py}", "build.py"),
        "True\n",
        check="print('<li>a &amp; b</li>' in open('_site/index.html').read())",
    ),
    App(
        "mkdocs-build",
        MKDOCS_TREE,
        ("{bin}/mkdocs", "build", "-q"),
        "True True\n",
        check="import os; print('Hello corpus' in open('site/index.html').read(),"
        " os.path.isdir('site/usage'))",
    ),
    App(
        "python-build",
        PACKAGE_TREE,
        ("{py}", "-m", "build"),
        "['greet/__init__.py'] True\n",
        check="import zipfile, os; z = zipfile.ZipFile('dist/corpus_greet-1.0-py3-none-any.whl'); "
        "print([n for n in z.namelist() if n.startswith('greet/')],"
        " os.path.isfile('dist/corpus_greet-1.0.tar.gz'))",
        env=(("PIP_NO_INDEX", "1"), ("PIP_FIND_LINKS", "{wheels}")),
        # setuptools' sdist stages corpus_greet-1.0/ in the project and removes it: only a writable
        # project holds that (a build tool, for the image's build, not for a read-only root)
        refused="",
    ),
    App(
        "ci-venv-pip-install",
        CI_TREE,
        _sh(
            "{py} -m venv .ci-venv && .ci-venv/bin/pip install -q --no-index --find-links {wheels} "
            "-r requirements.txt && .ci-venv/bin/python -c 'import itsdangerous; print(itsdangerous.Signer)'"
        ),
        "<class 'itsdangerous.signer.Signer'>\n",
        env=(("PIP_DISABLE_PIP_VERSION_CHECK", "1"),),
    ),
    App(
        "babel-compile",
        BABEL_TREE,
        ("{bin}/pybabel", "-q", "compile", "-d", "locale"),
        "Bonjour\n",
        check="import gettext; print(gettext.translation('messages', 'locale', ['fr']).gettext('Hello'))",
        # pybabel writes messages.mo beside its input messages.po: that directory held files, no
        # setting moves the output, and the command is itself a build step (it rewrites every .mo)
        refused="locale/fr/LC_MESSAGES",
    ),
    App(
        "pandas-csv-report",
        PANDAS_TREE,
        ("{py}", "report.py"),
        "region,amount\neast,30\nwest,5\n",
        check="print(open('out/summary.csv').read(), end='')",
    ),
    App(
        "joblib-memory",
        JOBLIB_TREE,
        ("{py}", "compute.py"),
        "[0, 1, 4, 9]\nTrue\n",
        check="import os; print(os.path.isdir('cache/joblib'))",
    ),
    App(
        "fastapi-sqlite-wal",
        FASTAPI_TREE,
        ("{py}", "probe.py", "{bin}/uvicorn", "--host", "127.0.0.1", "--port", "{port}", "notes_api:app"),
        "first\nsecond\n[('first',), ('second',)]\n",
        check=_sqlite_rows("data/notes.db", "select body from notes order by rowid"),
        holdout=True,
    ),
    App(
        "nbclient-execute",
        NOTEBOOK_TREE,
        ("{bin}/jupyter", "execute", "--output=executed/{{notebook_name}}", "notebooks/analysis.ipynb"),
        "mean 3.875\n",
        check="import json; nb = json.load(open('notebooks/executed/analysis.ipynb')); "
        "print(''.join(nb['cells'][0]['outputs'][0]['text']), end='')",
        holdout=True,
    ),
    App(
        "ipython-c",
        IPYTHON_TREE,
        ("{bin}/ipython", "-c", "print(sum(range(10)))"),
        "45\n",
        holdout=True,
    ),
    App(
        "pytest-hypothesis",
        PYTEST_TREE,
        ("{py}", "-m", "pytest", "-q", "--junitxml=reports/junit.xml"),
        "3 0\n",
        check="import xml.etree.ElementTree as E; s = E.parse('reports/junit.xml').getroot()"
        ".find('testsuite'); print(s.get('tests'), s.get('failures'))",
        holdout=True,
    ),
    App(
        "pre-commit-local-hooks",
        PRE_COMMIT_TREE,
        ("{bin}/pre-commit", "run", "--all-files", "--color", "never"),
        "True\n",
        check="import subprocess; print(subprocess.run(['git', '--no-optional-locks', 'status',"
        " '--porcelain', '--untracked-files=no'], capture_output=True, text=True).stdout == '')",
        prepare=GIT_INIT,
        holdout=True,
    ),
    App(
        "numba-cache",
        NUMBA_TREE,
        ("{py}", "run.py"),
        "[3.0, 6.0, 9.0, 12.0]\n",
        holdout=True,
    ),
    App(
        "loguru-rotating-log",
        LOGURU_TREE,
        ("{py}", "worker.py"),
        "done\nTrue\n",
        check="print(open('logs/worker.log').read().endswith('job 19 done\\n'))",
        holdout=True,
    ),
    App(
        "diskcache-memoize",
        DISKCACHE_TREE,
        ("{py}", "memo.py"),
        "[0, 3, 6] [0, 3, 6]\n[(3,)]\n",
        check=_sqlite_rows("var/cache/cache.db", "select count(*) from Cache"),
        holdout=True,
    ),
    App(
        "pylint-stats",
        PYLINT_TREE,
        ("{bin}/pylint", "--exit-zero", "pkg"),
        "Your code has been rated at 7.50/10\n\n",
        holdout=True,
    ),
    App(
        "cookiecutter-local-template",
        COOKIECUTTER_TREE,
        ("{bin}/cookiecutter", "--no-input", "-o", "gen", "tpl"),
        "# Demo Project\n",
        check="print(open('gen/demo_project/README.md').read(), end='')",
        holdout=True,
    ),
    App(
        "bottle-sqlite",
        BOTTLE_TREE,
        ("{py}", "probe.py", "{py}", "notes_bottle.py", "{port}"),
        "first\nsecond\n[('first',), ('second',)]\n",
        check=_sqlite_rows("data/notes.db", "select body from notes order by rowid"),
        holdout=True,
    ),
)


@dataclass
class Result:
    """What one application did: bare, traced, planned, replayed."""

    name: str
    bare_status: int = -1
    bare_error: str = ""
    traced_status: int = -1
    export_status: int = -1
    bwrap_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    build_steps: list[str] = field(default_factory=list)
    export_notes: str = ""
    replay_status: int = -1
    replay_stdout: str = ""
    replay_stderr: str = ""


class Site:
    """Where the applications are laid: a fresh tree (and HOME) under /var/tmp for each run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = apps_venv()
        self.wheels = wheelhouse()

    @property
    def tree(self) -> Path:
        return self.root / "app"

    def lay(self, app: App) -> None:
        for child in ("app", "home"):
            shutil.rmtree(self.root / child, ignore_errors=True)
        (self.root / "home").mkdir()
        for rel, text in app.tree.items():
            path = self.tree / rel
            if rel.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        if app.prepare:
            prepare = ["sh", "-c", app.prepare]
            subprocess.run(prepare, cwd=self.tree, check=True, capture_output=True, timeout=120)

    def names(self) -> dict[str, str]:
        return {
            "py": str(self.venv / "bin" / "python"),
            "bin": str(self.venv / "bin"),
            "wheels": str(self.wheels),
        }

    def argv(self, app: App) -> list[str]:
        names = self.names()
        return [a.replace("{port}", "\0").format(**names).replace("\0", "{port}") for a in app.argv]

    def env(self, app: App) -> dict[str, str]:
        """A user's environment: bytecode on, HOME here, no pip or venv settings of this machine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))}
        env.update(HOME=str(self.root / "home"), PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        env.update({k: v.format(**self.names()) for k, v in app.env})
        return env


BARE = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
CHECKED = '"$@" && if [ -n "$CORPUS_CHECK" ]; then exec "$CORPUS_PY" -I -c "$CORPUS_CHECK"; fi'


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def audit(app: App, site: Site, rotrace: list[str]) -> Result:
    """Bare read-only run, traced run, plan, and the replay from the pre-trace tree."""
    out = Result(app.name)
    env = site.env(app)
    site.lay(app)
    bare = _run([*BARE, "--", *site.argv(app)], site.tree, env)
    out.bare_status, out.bare_error = bare.returncode, (bare.stdout + bare.stderr)[-2000:]
    site.lay(app)
    trace = site.root / f"{app.name}.json"
    traced = _run([*rotrace, "run", "-q", "--json", str(trace), "--", *site.argv(app)], site.tree, env)
    out.traced_status = traced.returncode
    if not trace.exists():
        out.export_notes = traced.stderr[-2000:]
        return out
    out.env, out.build_steps = plan_of(trace)
    site.lay(app)  # the tree as it was before the trace
    for step in out.build_steps:  # as the image's build runs them, `python` the application's
        subprocess.run(
            ["sh", "-c", step], cwd=site.tree, env=env, check=True, capture_output=True, timeout=600
        )
    exported = _run([*rotrace, "allowlist", str(trace), "--format", "bwrap"], site.tree, env)
    out.export_status, out.export_notes = exported.returncode, exported.stderr
    out.bwrap_args = exported.stdout.splitlines()
    check_env = dict(env, CORPUS_CHECK=app.check or "", CORPUS_PY=site.names()["py"])
    argv = ["bwrap", *out.bwrap_args, "--", "sh", "-c", CHECKED, "sh", *site.argv(app)]
    replay = _run(argv, site.tree, check_env)
    out.replay_status, out.replay_stdout, out.replay_stderr = replay.returncode, replay.stdout, replay.stderr
    return out


def held(app: App, out: Result) -> bool:
    """The application failed bare, and its plan held: it succeeded, gave what it gives, and
    none of its writes was refused."""
    ok = out.bare_status != 0 and out.replay_status == 0 and out.replay_stdout.endswith(app.expected)
    return ok and "Read-only file system" not in out.replay_stderr


def plan_of(trace: Path) -> tuple[dict[str, str], list[str]]:
    """The plan's settings and build steps (what every export carries beside its mounts)."""
    plan = plan_from_trace(trace)
    return plan.env, plan.build_steps


@contextmanager
def site_dir() -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="rotrace-apps-", dir="/var/tmp"))  # outside /tmp and its tmpfs
    try:
        yield Site(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
