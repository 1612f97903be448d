"""Secrets out of what rotrace records: a command's arguments and the environment it records
are masked before they reach the JSON trace, a report, the GitHub summary or an export.

What is masked keeps its shape, so the record still reads: `https://***@host/simple`,
`--password=***`, `Authorization: Bearer ***`, `-u user:***`; a variable whose name says
it holds a secret is recorded as `<redacted>`. Masking is idempotent and leaves a value with
no secret as it was (paths, `pkg@1.2`, `pkg @ file:///x`, `git@github.com:org/repo.git`).

Found by their form: the userinfo of any URL (`scheme://user:pass@`, `scheme://TOKEN@`, and
`user:pass@host[:port]` without a scheme), anywhere in a value; a secret-named query parameter
or `name=value` pair (`token`, `password`, `sig`, `X-Amz-Signature`, `api_key`...); a
secret-named header (`Authorization: Bearer x`, `X-Api-Key: x`, `"password": "x"`); a
secret-named option's value (`--password=x`, `--token x`, `-Dx.keyStorePassword=x`); the
password options of some programs whose short option says nothing (curl `-u user:pass`, `mysql
-pX`, `sshpass -p`, `docker login -p`, `uv publish -t`, `az login -p`, `zip -P`, `ldapsearch
-w`, `smbclient -U user%pass`, `htpasswd -b`'s last argument, `sqlplus user/pass@db`,
`mosquitto_pub -P`, `xfreerdp /p:`, `mc alias set`'s secret key...) and a secret-named key's
value in `aws configure set KEY VALUE`; tokens of a well-known form (ghp_..., pypi-...,
AKIA..., ya29....); a URL whose path is the credential (Slack and Discord webhooks, a Telegram
bot's); a PEM private key's body; each of these also percent-encoded inside a value (a
redirect's URL). A shell script given as one argument (`sh -c '...'`) is read the same way, and
a list of string literals in a script as a command line (`subprocess.run(["curl", "-u",
"user:pass", url])`). Found by value: whatever the caller knows is secret (`secrets_in`: the
values of the environment's secret-named variables), wherever it appears.

Pure: no rotrace imports; the callers decide where (tracefile.TraceHeader, environment.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any

from rotrace.patterns import Lazy

MASK = "***"  # a masked part of a value
REDACTED = "<redacted>"  # a variable's whole value, withheld for its name
MIN_KNOWN = 8  # shorter values of secret variables are not masked wherever they appear

# -- names that say secret -----------------------------------------------------------------------

_WORD = Lazy(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_STRONG = ("passw", "passphrase", "secret", "credential")  # in any word of the name
_LAST = frozenset({
    "pass", "auth", "authorization", "bearer", "cookie", "cookies", "creds", "otp", "apikey", "accesskey",
    "secretkey", "privatekey", "authkey", "passin", "passout", "storepass", "keypass", "srcstorepass",
    "deststorepass", "srckeypass", "destkeypass", "pw", "jwt", "passcode", "passkey", "psk", "privkey",
    "mnemonic", "pat", "seedphrase", "keyphrase", "mnemonicphrase", "recoveryphrase",
})  # fmt: skip
# Two words that say secret together (`--pass-phrase`, `--seed-phrase`, `--client-key-data`)
_SECRET_PAIRS = frozenset({
    ("pass", "phrase"), ("pass", "word"), ("pass", "code"), ("pass", "key"), ("seed", "phrase"),
    ("key", "data"), ("priv", "key"), ("mnemonic", "phrase"), ("recovery", "phrase"), ("wallet", "phrase"),
    ("key", "phrase"), ("secret", "phrase"), ("totp", "seed"), ("otp", "seed"), ("totp", "secret"),
})  # fmt: skip
# A variable's or an option's last word glued to a password's short name (DBPWD, --rootpw,
# --adminpwd), but not the working directory's (PWD, OLDPWD)
_PW_ENDS = ("pwd", "pw")
_NOT_PW = frozenset({"pwd", "oldpwd"})
# An option's last word that says how its value is written (--private-key-hex, --token-b64):
# the name before it says what the value is
_OPTION_FORMAT = Lazy(r"(?P<head>.*[A-Za-z0-9])[-_.](?P<form>[A-Za-z0-9]+)")
# A variable's last word that ends in "pass" (SSHPASS, sshpass -e's; DBPASS), but not these words
_PASS_WORDS = frozenset({"bypass", "compass", "surpass", "overpass", "underpass", "keepass", "askpass"})
# Variables whose names do not say so: a personal access token (GH_PAT), Docker's credentials,
# a session cookie (SESSION, AOC_SESSION; not DESKTOP_SESSION, a desktop's name)
_SECRET_VARIABLES = frozenset({"pat", "docker_auth_config", "session"})
_NOT_SECRET_VARIABLES = frozenset({"desktop_session"})
# A session's id in a URL, a form, a cookie, a header or an option (session_id=, ;jsessionid=,
# PHPSESSID=, X-Session-Id:, --session-id; ASP's ASPSESSIONIDXXXXXXXX): it logs one in;
# `?session=` too, but not --session NAME (tmux's, a shell's)
_SESSION_IDS = ("sessionid", "sessid", "jsessionid", "phpsessid", "aspsessionid")
# Terraform's TF_TOKEN_<host> (the host's dots as underscores, in any case)
_TOKEN_PREFIX = Lazy(r"[A-Z][A-Z0-9]*_TOKEN_")
# --api-key KEY, but --private-key FILE, --client-key FILE, --sort-key N
_KEY_KINDS = frozenset({"api", "access", "secret", "auth", "master", "license", "encryption", "session",
                        "account", "subscription", "shared", "application", "functions", "private",
                        "signing", "service", "priv", "enc", "hmac", "unseal", "customer",
                        "sse", "sign"})  # fmt: skip
# The last word says the value is where a secret is, or how it is used, not the secret.
_NOT_SECRET = frozenset({
    "file", "files", "path", "paths", "dir", "directory", "sock", "socket", "url", "uri", "endpoint",
    "host", "hostname", "port", "user", "username", "login", "name", "type", "kind", "mode", "method",
    "provider", "backend", "helper", "command", "cmd", "program", "stdin", "env", "var", "length",
    "limit", "prompt", "store",
})  # fmt: skip
# A variable's last word that says how its value is written (MY_SVC_CREDS_JSON, SSH_KEY_B64): the
# name before it says what the value is
_FORMATS = frozenset({"json", "b64", "base64", "pem", "der", "hex", "yaml", "yml", "txt", "raw", "value",
                      "data", "content", "contents", "str", "string", "text", "encoded", "asc", "gpg",
                      "gz", "gzip", "enc", "key64"})  # fmt: skip
_IDENTIFIER = Lazy(r"[A-Za-z_][A-Za-z0-9_]*")
# names whose words say otherwise: SonarQube's login is its token
_SECRET_NAMES = frozenset({"sonar.login", "-dsonar.login"})
_NOT_OPTION = frozenset({"no", "ask", "prompt", "always", "force"})  # --no-password, --always-auth: flags
_ENV_NAME = Lazy(r"[A-Z_][A-Z0-9_]*")


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def _session_id(words: list[str]) -> bool:
    return words[-1].startswith(_SESSION_IDS) or words[-2:] == ["session", "id"]


def secret_name(name: str, option: bool = False, query: bool = False) -> bool:
    """Whether `name` (a variable, an option, a `name=value` pair, a header) says that its value
    is a secret. An upper-case name is read as an environment variable's (`*TOKEN*`,
    `*PASSWORD*`, `*_KEY`...). `option` for an option's or a header's name (`--key FILE`,
    `--token-limit N` and `--signature FILE` are not secrets, `--no-password` is a flag);
    `query` for a URL's query parameter (`?key=` is an API key; `key=value` elsewhere is not)."""
    return len(name) <= 128 and _secret_name(name, option, query)


@lru_cache(maxsize=4096)
def _secret_name(name: str, option: bool, query: bool) -> bool:
    if _TOKEN_PREFIX.match(name) or name.lower() in _SECRET_NAMES:
        return True
    words = _words(name)
    if not words or words[-1] in _NOT_SECRET:
        return False
    if "." in name and any(words[i + 1] == "key" and words[i] in _KEY_KINDS for i in range(len(words) - 1)):
        return True  # a property: fs.azure.account.key.ACCOUNT.dfs.core.windows.net
    env = _ENV_NAME.fullmatch(name) is not None
    head, _, form = name.rpartition("_")
    if head and form.lower() in _FORMATS and _IDENTIFIER.fullmatch(name):  # GCP_CREDS_JSON, SSH_KEY_B64,
        return _secret_name(head, option, query)  # TF_VAR_key_pem: the content of what the name before says
    formatted = _OPTION_FORMAT.fullmatch(name) if option and len(words) > 1 else None
    if formatted and formatted["form"].lower() in _FORMATS and _secret_name(formatted["head"], option, query):
        return True  # --private-key-hex, --token-b64
    if option and not env and len(words) > 1 and words[0] in _NOT_OPTION:
        return False
    if any(strong in w for w in words for strong in _STRONG) or _SECRET_PAIRS.intersection(pairwise(words)):
        return True
    last = words[-1]
    if env:  # PGPASSWORD, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, MYSQL_PWD (not PWD: the directory)
        if "_".join(words[-2:]) in _NOT_SECRET_VARIABLES:
            return False
        if any(w.endswith("token") for w in words) or last in _SECRET_VARIABLES or _session_id(words):
            return True
        if "_".join(words[-3:]) in _SECRET_VARIABLES or (last.endswith("pass") and last not in _PASS_WORDS):
            return True
        if last.endswith(_PW_ENDS) and not (len(words) == 1 and last in _NOT_PW):  # DBPWD, LDAP_ROOTPW
            return True
        return last in _LAST or (len(words) > 1 and last in ("key", "pwd"))
    if last.endswith("token") or last in _LAST or last == "pwd":
        return True
    if last.endswith("pass") and last not in _PASS_WORDS:  # --dbpass, as DBPASS
        return True
    if last.endswith(_PW_ENDS) and last not in _NOT_PW:  # --dbpwd, --rootpw, --adminpwd
        return True
    if last in ("sig", "signature"):  # ?sig=, X-Amz-Signature=, Signature=; not --signature FILE
        return not option
    if _session_id(words):
        return True
    if last == "session":
        return query
    if last == "key":  # ?key= (an API key), --api-key, apiKey; not --key FILE nor --sort-key
        kind = words[-2] if len(words) > 1 else ""
        sse_c = words[-3:-1] == ["sse", "c"]  # --sse-c-key: S3's customer-provided key
        return (len(words) == 1 and query) or kind in _KEY_KINDS or kind.endswith("api") or sse_c
    return last.endswith("key") and last[:-3] in _KEY_KINDS | {"sharedaccess"}  # ACCOUNTKEY=


# -- secrets by their form, inside any value -----------------------------------------------------

# Each pattern takes time linear in its text (a traced program's arguments are anyone's input):
# a scheme or a name is looked for only where one begins, and what runs on is bounded.
_SCHEME = r"(?<![A-Za-z0-9+.])[A-Za-z][A-Za-z0-9+.-]{0,31}://"
# scheme://userinfo@: the userinfo is what precedes the authority's last '@' (RFC 3986)
_URL_USERINFO = Lazy(r"(?P<scheme>" + _SCHEME[:-3] + r")://(?P<ui>[^\s/?#\"'<>`]*)@")
# scheme://user:pa/ss@host: a password with a raw '/' (not a port after the ':')
_URL_SLASHED = Lazy(_SCHEME + r"(?P<ui>[^\s/?#@:\[\]]{0,256}:(?!\d{0,5}(?:[/?#\s]|$))[^\s@]{0,256})@")
_SSH_SCHEMES = frozenset({"ssh", "sftp", "scp"})  # ssh://git@host, svn+ssh://bob@host: a login name
_HOST = r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})(?::\d{1,5})?(?=[/\s,;\"')>\]}|?#]|$)"
_SEP = r"\s,;=\"'(<\[{|>"
# user:pass@host[:port] without a scheme (PIP_PROXY, --proxy): needs the ':' (pkg@1.2, git@host:x
# and user@host are not secrets) and a host (image:tag@sha256:... is not one); not Perl's a::b(@c)
# scp's and rsync's host:path (user:pass@host:org/repo.git); not a digest (image:tag@sha256:...)
_SCP_HOST = r"(?:\[[0-9A-Fa-f:.]{2,45}\]|(?!sha[0-9]{1,3}:)[A-Za-z0-9][A-Za-z0-9.-]{0,252}):[^\s:@]"
_BARE_USERINFO = Lazy(
    rf"(?<![^{_SEP}])(?!mailto:)(?P<ui>[^{_SEP}/@:?#]{{1,256}}:(?![:/])(?:(?!//)[^\s@\[\]]){{0,256}})@"
    rf"(?={_HOST}|{_SCP_HOST}|(?:tcp|unix|udp)\()"  # Go's DSN: user:pass@tcp(host:3306)/db
)
# a value: quoted (a script's string prefixes too: f"..", b'..'), bracketed (a tuple or list:
# auth=("user", "pass"), "password": ["x"]: all inside is masked), or bare
_VALUE = (
    r"[fFrRbBuU]{{0,2}}(?:\"\"\"(?P<tdq>[^\"]*)\"\"\"|'''(?P<tsq>[^']*)''')"
    r"|[fFrRbBuU]{{0,2}}\"(?P<dq>(?:[^\"\\]|\\.)*+)\"|[fFrRbBuU]{{0,2}}'(?P<sq>[^']*)'|`(?P<bq>[^`]*)`"
    r"|[(\[{{](?P<in>[^)\]}}]{{1,1024}})[)\]}}]|(?P<bare>{})"
)
# name=: query parameters, form fields, assignments, --name=value, -Dname=value; the value is
# read only after a secret name (--index-url=https://h/?token=x: a pair in a pair's value)
_PAIR = Lazy(r"(?<![\w.\]])(?P<name>[A-Za-z_](?:[\w.-]|\[\d{1,6}\]){0,63})=")
_PAIR_VALUE = Lazy(_VALUE.format(r"[^\s&#,;'\"]+"))
# a password's bare value runs to a blank or a comma (libpq's `password=ab;cd`: the `;` is the
# password's too; mount options' `password=x,uid=1000` end at the comma)
_PASSWORD_VALUE = Lazy(_VALUE.format(r"[^\s,'\"]+"))
# name = "value" in a script: spaces around `=`, a subscript (os.environ["TOKEN"] = "x"), Ruby's
# `:name => "x"`, PowerShell's `$env:NAME = "x"`; only a quoted or bracketed value (`x = y` is code)
_ASSIGN = Lazy(
    r"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]{0,63})(?:[\"']\])?[ \t]*(?:=>|:=|=)(?![=>~])\s{0,64}"
    r"(?=[fFrRbBuU]{0,2}[\"'`(\[{])"
)
_SCHEMES = (
    r"bearer|basic|token|digest|negotiate|ntlm|oauth|bot|apikey|api-key|jwt|aws4-hmac-sha256|ssws|"
    r"splunk|geniekey|sso-key|hmac|key|sharedaccesssignature"
)
# Name: value, "name": "value": headers (curl -H, git -c http.extraHeader=...), JSON, YAML
_HEADER = Lazy(
    r"(?:(?<![\w-])|(?<=^-H))(?P<q>[\"']?)(?P<name>[A-Za-z][\w-]{0,63})(?P=q)[ \t]{0,16}:\s{0,16}"
    rf"(?:(?i:{_SCHEMES})[ \t]{{1,16}})?"
)
# headers whose whole value is the secret, whatever its words (every cookie; a scheme rotrace
# does not know and its credentials: `Authorization: DeepL-Auth-Key KEY`): up to a quote
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
_COOKIES_END = Lazy(r"[\n\"']")
_HEADER_VALUE = Lazy(_VALUE.format(r"[^\s'\",;@]+"))
# tokens whose form says what they are, anywhere (after a separator too: x-ghp_..., key-AKIA...,
# a name=TOKEN or TOKEN_SUFFIX); the prefix is kept
_TOKEN = Lazy(
    r"(?<![A-Za-z0-9])(?:"
    r"(?P<a>gh[pousr]_|npm_)[A-Za-z0-9]{36}|(?P<b>hf_)[A-Za-z0-9]{30,}|(?P<c>github_pat_)[A-Za-z0-9_]{22,}"
    r"|(?P<d>glpat-|gl(?:dt|rt|ptt|soat)-|dckr_pat_)[A-Za-z0-9_-]{20,}|(?P<e>xox[abposr]-)[A-Za-z0-9-]{10,}"
    r"|(?P<f>(?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{16,}|(?P<g>sk-(?:proj|ant-api\d\d|svcacct|admin)-)[\w-]{20,}"
    r"|(?P<h>pypi-AgE)[A-Za-z0-9_-]{16,}|(?P<i>AIza)[A-Za-z0-9_-]{35}|(?P<j>AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"
    r"|(?P<k>eyJ)[A-Za-z0-9_-]{8,512}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+|(?P<l>ya29\.)[\w-]{20,}"
    # Vault, Stripe's webhook secrets, SendGrid, Slack's app tokens, age, Shopify, DigitalOcean
    r"|(?P<m>hv[sbr]\.)[A-Za-z0-9_-]{20,}|(?P<n>whsec_)[A-Za-z0-9+/=]{20,}|(?P<o>SG\.)[\w-]{16,}\.[\w-]{16,}"
    r"|(?P<p>xapp-)[A-Za-z0-9-]{20,}|(?P<q>AGE-SECRET-KEY-1)[0-9A-Z]{40,}|(?P<r>shp(?:at|ss|ca|pa)_)[0-9a-fA-F]{32}"
    r"|(?P<s>do[opr]_v1_)[0-9a-f]{64}"
    r"|(?P<t>0x)[0-9a-fA-F]{64}(?![0-9a-fA-F])"  # an Ethereum private key (cast --private-key 0x...)
    # OpenAI's first keys, Google's OAuth client secrets, Mailgun's keys
    r"|(?P<u>sk-)[A-Za-z0-9]{48}(?![A-Za-z0-9])|(?P<v>GOCSPX-)[\w-]{20,}|(?P<w>key-)[0-9a-f]{32}(?![0-9a-f])"
    # Databricks, Atlassian's API tokens, Tailscale, GitLab's runner registration, RubyGems
    r"|(?P<x>dapi)[0-9a-f]{32}(?![0-9a-f])|(?P<y>AT[AC]TT3)[A-Za-z0-9_=-]{60,}|(?P<z>tskey-)[\w-]{20,}"
    r"|(?P<aa>GR1348941)[\w-]{20,}|(?P<ab>rubygems_)[0-9a-f]{48}"
    r")"
)
# URLs whose path is the credential (anyone holding one posts as its owner): Slack and Discord
# webhooks, Teams incoming webhooks, a Telegram bot's API; the part after the prefix is masked
_SECRET_PATH = Lazy(
    r"(?:(?P<a>hooks\.slack\.com/(?:services|workflows|triggers)/)"
    r"|(?P<b>(?:discord|discordapp)\.com/api/webhooks/)"
    r"|(?P<c>\.webhook\.office\.com/webhookb2/)"
    r"|(?P<d>api\.telegram\.org/(?:file/)?bot))"
    r"[^\s?#\"'<>`]{8,}"
)
# a private key in PEM form (OpenSSH, PKCS#1, PKCS#8, encrypted or not): what follows this line,
# up to its END line (or the end of the value: a key cut short is still a key)
_PEM_BEGIN = Lazy(r"-----BEGIN (?P<kind>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----")
# without one of these, no token of a well-known form is there (_TOKEN: a `PATH`'s `:` is no reason
# to look for one)
_TOKEN_PREFIXES = (
    r"gh[pousr]_|github_pat_|gl[a-z]+-|npm_|hf_|dckr_|xox|[sr]k[-_]|pypi-|AIza|AKIA|ASIA|eyJ|ya29"
    r"|hv[sbr]\.|whsec_|SG\.|xapp-|AGE-SECRET|shp|do[opr]_v1_|0x[0-9a-fA-F]{64}|GOCSPX-|key-"
    r"|dapi|AT[AC]TT3|tskey-|GR1348941|rubygems_"
)
_TOKEN_HINT = Lazy(_TOKEN_PREFIXES)
# the hosts of the URLs whose path is the credential (_SECRET_PATH)
_SECRET_HOSTS = (
    "hooks.slack.com/",
    "discord.com/",
    "discordapp.com/",
    ".webhook.office.com/",
    "api.telegram.org/",
)
# without one of these, no form applies (most arguments: paths, words)
_HINT = re.compile(
    r"[@=:]|" + _TOKEN_PREFIXES + r"|PRIVATE KEY|%[0-9A-Fa-f]{2}|%u[0-9A-Fa-f]{4}|\\u[0-9A-Fa-f]{4}|&amp;"
)
# what stands encoded for one character: %XX, %uXXXX, a JSON or JavaScript \uXXXX, \/, \" or \\,
# HTML's &amp;
_ENCODED = Lazy(r"%(?P<x>[0-9A-Fa-f]{2})|(?:%u|\\u)(?P<u>[0-9A-Fa-f]{4})|\\(?P<s>[/\"\\])|&(?P<amp>amp);")
_DECODINGS = 3  # %253D is '=' encoded twice: a URL in a URL's query, itself in one


def _value_span(m: re.Match[str] | None) -> tuple[int, int] | None:
    if m is None:
        return None
    for group in ("tdq", "tsq", "dq", "sq", "bq", "in", "bare"):
        if m.group(group) is not None:
            start, end = m.span(group)
            # masked already (what followed the mask kept): masking again changes nothing
            return (start, end) if end > start and not m.group(group).startswith(MASK) else None
    return None


def _form_spans(text: str, depth: int = 0) -> Iterable[tuple[int, int]]:
    """Where in `text` a secret is, by its form (also percent-encoded, `depth` times decoded so far)."""
    if "@" in text:
        for m in _URL_USERINFO.finditer(text):
            ui = m.group("ui")
            if (
                ui
                and ui != MASK
                and (":" in ui or _SSH_SCHEMES.isdisjoint(m.group("scheme").lower().split("+")))
            ):
                yield m.span("ui")
        for m in _URL_SLASHED.finditer(text):
            yield m.span("ui")
        for m in _BARE_USERINFO.finditer(text):
            if m.group("ui") != MASK:
                yield m.span("ui")
    if "=" in text:
        covered = 0  # a name inside a value already masked is not read again (time stays linear)
        for m in _PAIR.finditer(text):
            name = m.group("name")
            before = text[m.start() - 1 : m.start()]
            # PWD=: the working directory as a variable, a password in a connection string (ODBC's
            # `UID=sa;PWD=x`, a pair after `;`)
            odbc = name.upper() == "PWD" and (before == ";" or ";" in text[m.end() :])
            if m.start() >= covered and (odbc or secret_name(name, query=before in "?&")):
                wide = not odbc and any(strong in name.lower() for strong in _STRONG)
                span = _value_span((_PASSWORD_VALUE if wide else _PAIR_VALUE).match(text, m.end()))
                if span is not None:
                    covered = span[1]
                    yield span
        covered = 0
        for m in _ASSIGN.finditer(text):
            if m.start() >= covered and secret_name(m.group("name")):
                span = _value_span(_PAIR_VALUE.match(text, m.end()))
                if span is not None:
                    covered = span[1]
                    yield span
    if ":" in text:
        covered, leading = 0, len(text) - len(text.lstrip("-\"' "))
        for m in _HEADER.finditer(text):
            if m.start() >= covered and secret_name(m.group("name"), option=True):
                value = _HEADER_VALUE.match(text, m.end())
                span = _value_span(value)
                if value is not None and span is not None:
                    whole = (
                        value.group("bare") is not None and m.start() <= leading
                    )  # the argument is a header
                    covered = len(text) if whole else span[1]
                    if value.group("bare") is not None and m.group("name").lower() in _COOKIE_HEADERS:
                        # every cookie of the line (any may be the session), up to a quote
                        end = next((m2.start() for m2 in _COOKIES_END.finditer(text, span[0])), len(text))
                        covered = max(covered, end)
                    yield span[0], covered
    if _TOKEN_HINT.search(text):
        for m in _TOKEN.finditer(text):
            yield m.end(m.lastindex or 0), m.end()  # the prefix says what it was
    if any(host in text for host in _SECRET_HOSTS):
        for m in _SECRET_PATH.finditer(text):
            yield m.end(m.lastindex or 0), m.end()
    if "PRIVATE KEY" in text:
        at = 0
        while (begin := _PEM_BEGIN.search(text, at)) is not None:
            end = text.find(f"-----END {begin.group('kind')}-----", begin.end())
            at = len(text) if end < 0 else end
            yield begin.end(), at
    if depth < _DECODINGS:
        for form, where in _decoded(text):
            for start, end in _form_spans(form, depth + 1):
                yield where[start], where[end]


def _decoded(text: str) -> list[tuple[str, list[int]]]:
    """`text` decoded, if anything in it is encoded (`?next=%2Fx%3Ftoken%3DX`, a redirect's
    `https%3A%2F%2Fuser%3Apass%40host`, Go's JSON `\u0026key=`, `&amp;`), with where each of
    its characters starts in `text` (and the end): secrets are found in it and masked where
    they are encoded. %XX stands for its byte (a secret's form is ASCII); a form's `+` is a
    space (`%22password%22%3A+%22X%22`) or itself (base64): both readings are given."""
    if "%" not in text and "\\" not in text and "&amp;" not in text:
        return []
    found = [m for m in _ENCODED.finditer(text)]
    if not found:
        return []  # nothing encoded
    forms = [_decode(text, found, spaces=False)]
    if "+" in text or any(m.group("x") in _SPACES for m in found):
        forms.append(_decode(text, found, spaces=True))
    return forms


def _decodings(text: str, depth: int = 0) -> list[tuple[str, list[int]]]:
    """Every reading of `_decoded`, down to _DECODINGS levels (%252F is a slash twice encoded),
    each with where its characters start in `text`."""
    found: list[tuple[str, list[int]]] = []
    if depth >= _DECODINGS:
        return found
    for form, where in _decoded(text):
        found.append((form, where))
        found += [(deeper, [where[i] for i in at]) for deeper, at in _decodings(form, depth + 1)]
    return found


_SPACES = frozenset({"20", "09", "0A", "0a", "0D", "0d"})  # whitespace, which ends a bare value


def _decode(text: str, found: list[re.Match[str]], spaces: bool) -> tuple[str, list[int]]:
    """`_decoded`'s one reading: with `spaces`, %20 and the like and a `+` are spaces; without,
    they stay as they are (`password%3Dcorrect%20horse`: the whole passphrase is the value)."""
    decoded: list[str] = []
    where: list[int] = []  # where each decoded character starts in `text`

    def literal(part: str) -> str:  # a form's own `+`, not one decoded from %2B (`horse+battery`)
        return part.replace("+", " ") if spaces else part

    at = 0
    for m in found:
        if not spaces and m.group("x") in _SPACES:
            continue
        decoded.append(literal(text[at : m.start()]))
        where.extend(range(at, m.start()))
        code = m.group("x") or m.group("u")
        decoded.append(chr(int(code, 16)) if code else m.group("s") or "&")
        where.append(m.start())
        at = m.end()
    decoded.append(literal(text[at:]))
    where.extend(range(at, len(text)))
    where.append(len(text))  # the end of the last one
    return "".join(decoded), where


# -- secrets by their place in a command line ----------------------------------------------------

_WHOLE, _USERPASS, _PASSARG, _AFTER_EQUALS = "whole", "user:pass", "openssl pass", "name=value"
_USERPASS_OR_TOKEN = "user:pass or token"  # httpie -a: user:pass, or a bearer token (-A bearer)
_USERCOMMA = "user,pass"  # lftp -u
_POSITIONAL = "positional"  # the argument after a word (cargo login TOKEN), unless an option
_USERPERCENT = "user%pass"  # Samba's -U
_USERSLASH = "user/pass"  # Oracle's sqlplus scott/tiger@db


@dataclass(frozen=True)
class _Program:
    """The options of one program whose value is a secret although their name does not say so."""

    options: Mapping[str, str]  # option -> how its value holds the secret
    after: frozenset[str] = frozenset()  # only after one of these subcommands (login, publish)
    attached: bool = True  # -pSECRET, -uuser:pass (getopt); not openssl's -kfile
    attached_only: frozenset[str] = frozenset()  # mysql -pX (mysql -p X: X is the database)
    # one-character flags that take no value, which may come before a secret option in one
    # argument (curl -sSLu user:pass, -4ubob:pass); a letter not listed may take a value
    # (mysql -hpg-primary: the host), so the scan stops there
    flags: frozenset[str] = frozenset()
    switches: frozenset[str] = frozenset()  # secret-named options that take no value (psql --password)
    positional: frozenset[str] = frozenset()  # words whose next argument is a secret (cargo login TOKEN)
    # a one-letter flag after which the command's last argument is the secret (htpasswd -b FILE
    # USER PASSWORD, -nb USER PASSWORD)
    last_after: str = ""
    # a word after which the n-th argument is the secret (mc alias set NAME URL ACCESS SECRET)
    nth_after: tuple[tuple[str, str, int], ...] = ()  # (subcommand, its word, n): mc alias set's 4th
    first: str = ""  # how the first argument that is no option holds a secret (sqlplus's)
    valued: frozenset[str] = frozenset()  # options that take a value, among those nth_after counts past
    prefixed: Mapping[str, str] = field(default_factory=dict)  # /p:SECRET (FreeRDP's): how it holds it

    def kind(self, option: str, seen: set[str]) -> str | None:
        if self.after and self.after.isdisjoint(seen):
            return None
        return None if option in self.attached_only else self.options.get(option)

    def attached_kind(self, arg: str, seen: set[str]) -> tuple[str, int] | None:
        """How `-pSECRET` holds its secret, and where its value starts, if it is such an option;
        in a cluster of flags too (curl -vubob:pass: the value after the option's letter)."""
        if (
            not self.attached
            or len(arg) <= 2
            or arg[0] != "-"
            or arg[1] == "-"
            or (self.after and self.after.isdisjoint(seen))
        ):
            return None
        for at in range(1, len(arg) - 1):
            kind = self.options.get("-" + arg[at])
            if kind is not None:
                return kind, at + 1
            if arg[at] not in self.flags:
                return None
        return None


_CURL = _Program({"-u": _USERPASS, "--user": _USERPASS, "-U": _USERPASS, "--proxy-user": _USERPASS,
                  "-E": _USERPASS, "--cert": _USERPASS, "-b": _WHOLE},
                 flags=frozenset("0123456#aBfgGiIjJkLlMnNOpqRsSvVZ"))  # fmt: skip
_HTTPIE = _Program({"-a": _USERPASS_OR_TOKEN, "--auth": _USERPASS_OR_TOKEN})
_MYSQL = _Program({"-p": _WHOLE}, attached_only=frozenset({"-p"}), positional=frozenset({"password"}))
_LOGIN = _Program({"-p": _WHOLE}, after=frozenset({"login"}))
_PROGRAMS: dict[str, _Program] = {
    "curl": _CURL,
    **dict.fromkeys(("http", "https", "xh", "xhs"), _HTTPIE),
    **dict.fromkeys(("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck",
                     "mysqlpump", "mariadb", "mariadb-dump", "mariadb-admin"), _MYSQL),
    "sshpass": _Program({"-p": _WHOLE}),
    **dict.fromkeys(("cargo", "vault"), _Program({}, positional=frozenset({"login"}))),  # cargo login TOKEN
    **dict.fromkeys(("psql", "pg_dump", "pg_dumpall", "pg_restore", "createdb", "dropdb", "createuser",
                     "vacuumdb", "reindexdb", "pg_basebackup"),
                    _Program({}, switches=frozenset({"--password", "-W"}))),
    "codecov": _Program({"-t": _WHOLE, "--token": _WHOLE}),
    "ssh-keygen": _Program({"-N": _WHOLE, "-P": _WHOLE}),
    "htpasswd": _Program({}, last_after="b"),
    **dict.fromkeys(("sqlplus", "sqlldr", "expdp", "impdp", "exp", "imp", "rman"),
                    _Program({}, first=_USERSLASH)),
    **dict.fromkeys(("mosquitto_pub", "mosquitto_sub", "mosquitto_rr"),
                    _Program({"-P": _WHOLE, "--pw": _WHOLE})),
    **dict.fromkeys(("xfreerdp", "wlfreerdp", "sdl-freerdp", "xfreerdp3", "sdl-freerdp3"),
                    _Program({}, prefixed={"/p:": _WHOLE, "/password:": _WHOLE, "/gp:": _WHOLE,
                                           "/pth:": _WHOLE})),
    # mc alias set [--api S3v4] NAME URL ACCESS SECRET
    # mc config host add NAME URL ACCESS SECRET; mc admin user add NAME USER SECRET
    "mc": _Program({}, nth_after=(("alias", "set", 4), ("host", "add", 4), ("user", "add", 3)),
                   valued=frozenset({"--api", "--path"})),
    "lftp": _Program({"-u": _USERCOMMA, "--user": _USERCOMMA}),
    **dict.fromkeys(("redis-cli", "valkey-cli", "keydb-cli"), _Program({"-a": _WHOLE}, attached=False)),
    **dict.fromkeys(("docker", "podman", "buildah", "nerdctl", "helm", "oras", "crane", "regctl"), _LOGIN),
    "uv": _Program({"-p": _WHOLE, "-t": _WHOLE}, after=frozenset({"publish", "auth"})),
    "twine": _Program({"-p": _WHOLE}),
    "poetry": _Program({"-p": _WHOLE}, after=frozenset({"publish"})),
    "pdm": _Program({"-P": _WHOLE}, after=frozenset({"publish"})),
    "hatch": _Program({"-a": _WHOLE}, after=frozenset({"publish"})),
    "gh": _Program({"-b": _WHOLE, "--body": _WHOLE}, after=frozenset({"secret"})),
    "kubectl": _Program({"--from-literal": _AFTER_EQUALS}, after=frozenset({"secret"})),
    "openssl": _Program({"-pass": _PASSARG, "-passin": _PASSARG, "-passout": _PASSARG, "-k": _WHOLE},
                        attached=False),
    "az": _Program({"-p": _WHOLE}, after=frozenset({"login"})),
    **dict.fromkeys(("zip", "zipcloak", "unzip", "funzip"), _Program({"-P": _WHOLE})),
    **dict.fromkeys(("7z", "7za", "7zr", "7zz"), _Program({"-p": _WHOLE}, attached_only=frozenset({"-p"}))),
    **dict.fromkeys(("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapmodrdn", "ldappasswd",
                     "ldapwhoami", "ldapcompare", "ldapexop"), _Program({"-w": _WHOLE})),
    **dict.fromkeys(("sqlcmd", "bcp", "isql", "tsql"), _Program({"-P": _WHOLE})),
    **dict.fromkeys(("smbclient", "rpcclient", "smbcacls", "smbget", "net"), _Program({"-U": _USERPERCENT,
                    "--user": _USERPERCENT})),
}  # fmt: skip
_OPTION = Lazy(r"(?P<option>--?[A-Za-z][\w.-]*)(?:=(?P<value>.*))?", re.DOTALL)
_ASSIGNMENT = Lazy(r"(?P<name>[A-Za-z_][\w.]*)=(?P<value>.+)", re.DOTALL)
_CLUSTER = Lazy(r"-[A-Za-z0-9#]{2,}")
_LOOKS_LIKE_OPTION = Lazy(r"--[A-Za-z][\w-]*(?:=.*)?|-[A-Za-z]", re.DOTALL)
_SHELL_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", "\n", "`"})
# a subcommand that sets a named value (aws configure set aws_secret_access_key KEY)
_CONFIG = frozenset({"config", "configure"})


def _offset(kind: str, value: str) -> int | None:
    """Where the secret starts in an option's value (None: it holds none)."""
    if not value or value.startswith(MASK):  # masked already (what followed the mask kept)
        return None
    if kind in (_USERPASS_OR_TOKEN, _USERPASS) and value.endswith(":"):
        return 0  # `-u KEY:`, no password: the user is the key (Stripe's, httpie's -a KEY:)
    if kind == _USERPASS_OR_TOKEN:
        return value.index(":") + 1 if ":" in value else 0
    if kind in (_USERPASS, _AFTER_EQUALS, _USERPERCENT, _USERCOMMA, _USERSLASH):
        sep = {_USERPASS: ":", _AFTER_EQUALS: "=", _USERPERCENT: "%", _USERCOMMA: ",", _USERSLASH: "/"}[kind]
        return value.index(sep) + 1 if sep in value and not value.endswith(sep) else None
    if kind == _PASSARG:  # openssl: pass:SECRET; env:VAR, file:PATH, fd:N, stdin say where it is
        if value.startswith("pass:"):
            return 5 if len(value) > 5 else None
        return None if value.startswith(("env:", "file:", "fd:")) or value == "stdin" else 0
    return 0


def _secret_option(option: str) -> bool:
    """Whether an option's name says its value is a secret; a property glued to its one-letter
    option (Java's and Gradle's `-DaccessKey=`, `-PsigningKey=`) by the property's name."""
    if secret_name(option, option=True):
        return True
    glued = option[2:] if not option.startswith("--") and len(option) > 3 and option[1].isupper() else ""
    return bool(glued) and secret_name(glued, option=True)


def _maybe_the_value_of(previous: str) -> bool:
    """Whether an argument after `previous` may be its value (docker login -u gh: not the program
    gh); python -m twine runs twine."""
    if previous == "--entrypoint":  # docker run --entrypoint htpasswd IMAGE -Bbn USER PASS
        return False
    return previous != "-m" and _OPTION.fullmatch(previous) is not None and "=" not in previous


def _command_masks(args: Sequence[str]) -> dict[int, int]:
    """Which arguments hold a secret by their place, and where in the argument it starts."""
    masks: dict[int, int] = {}
    program: _Program | None = None
    seen: set[str] = set()  # the words since the program (its subcommand)
    pending: str | None = None  # how the next argument holds the secret
    skip = 0  # poetry config http-basic.NAME USER PASSWORD: the user is no secret
    skip_value = False  # an option among the arguments skipped takes the next as its value
    last: int | None = None  # htpasswd -b: the command's last argument so far, a secret at its end
    first = False  # sqlplus: its first argument that is no option is yet to come

    def mask(i: int, kind: str, value: str, start: int) -> None:
        offset = _offset(kind, value)
        if offset is not None:
            masks[i] = start + offset

    def ended() -> None:  # the command ends: htpasswd -b's password is its last argument
        if last is not None and not args[last].startswith("-"):
            mask(last, _WHOLE, args[last], 0)

    def started(base: str) -> _Program:  # a known program's arguments begin
        ended()
        return _PROGRAMS[base]

    for i, arg in enumerate(args):
        if arg in _SHELL_SEPARATORS:
            ended()
            program, seen, pending, skip, last, first = None, set(), None, 0, None, False
            continue
        if last is not None:
            last = i
        if skip:
            counting = program is not None and bool(program.nth_after)
            if counting and program is not None and arg.startswith("-"):  # an option among them
                if arg in program.valued:
                    skip_value = True
                continue
            if counting and skip_value:
                skip_value = False
                continue
            skip -= 1
            if not skip and pending is None and counting:
                pending = _WHOLE
            continue
        if program is not None and program.prefixed:
            prefix = next((p for p in program.prefixed if arg.startswith(p)), None)
            if prefix is not None:  # xfreerdp /p:SECRET
                mask(i, program.prefixed[prefix], arg[len(prefix) :], len(prefix))
                continue
        if (
            program
            and program.last_after
            and arg[:1] == "-"
            and arg[1:2] != "-"
            and program.last_after in arg
        ):
            last = i  # htpasswd -b, -nb, -bc
        if first and not arg.startswith("-") and program is not None:
            first = False  # scott/tiger@db (not /nolog, `/ as sysdba`, @script.sql: no user)
            if arg[:1] not in ("/", "@"):
                mask(i, program.first, arg, 0)
            continue
        if pending is not None:
            kind, pending = pending, None
            if kind == _POSITIONAL:  # vault login TOKEN; vault login -method=userpass: no token
                if not arg.startswith("-"):
                    mask(i, _WHOLE, arg, 0)
                    continue
            elif not _LOOKS_LIKE_OPTION.fullmatch(arg):
                mask(i, kind, arg, 0)
                continue
        option = _OPTION.fullmatch(arg)
        attached = program.attached_kind(arg, seen) if program is not None else None
        if option is None and attached is None and program and program.attached and _CLUSTER.fullmatch(arg):
            pending = program.kind("-" + arg[-1], seen)  # -4u user:pass: flags, then the option
            continue
        if option is not None and option.group("option") == "--entrypoint" and option.group("value"):
            base = option.group("value").rstrip("/").rsplit("/", 1)[-1]  # docker run --entrypoint=PROG
            if base in _PROGRAMS:
                program, seen, last = started(base), set(), None
                first = bool(program.first)
                continue
        if option is not None or attached is not None:
            if program is not None and option is not None and option.group("option") in program.switches:
                continue  # it asks for a password at a prompt: no value follows
            known = program.kind(option.group("option"), seen) if program and option else None
            if known is None and attached is not None:  # -pSECRET
                mask(i, attached[0], arg[attached[1] :], attached[1])
            elif (
                known is None and program and program.attached and _CLUSTER.fullmatch(arg)
            ):  # -sSLu user:pass
                pending = program.kind("-" + arg[-1], seen)
            elif known is None and option is not None and not _secret_option(option.group("option")):
                pass  # an option that holds no secret
            elif option is not None and option.group("value") is not None:  # --password=SECRET
                mask(i, known or _WHOLE, option.group("value"), option.start("value"))
            else:  # --password SECRET
                pending = known or _WHOLE
            continue
        assignment = _ASSIGNMENT.fullmatch(arg)
        if assignment is not None:  # TOKEN=SECRET (env, docker run -e, --build-arg, make)
            if secret_name(assignment.group("name")):
                mask(i, _WHOLE, assignment.group("value"), assignment.start("value"))
            continue
        base = arg.rstrip("/").rsplit("/", 1)[-1]
        # (not among htpasswd -b's file, user and password: a user named `xh` is no program)
        if (
            base in _PROGRAMS
            and last is None
            and not (program is not None and _maybe_the_value_of(args[i - 1]))
        ):
            program, seen, last = started(base), set(), None
            first = bool(program.first)
            continue
        if program is not None and arg in program.positional:
            pending = _POSITIONAL
        if program is not None and program.nth_after:
            nth = next((n for sub, word, n in program.nth_after if word == arg and sub in seen), 0)
            skip = nth - 1 if nth else skip  # the arguments before the secret, then the secret

        # poetry config pypi-token.NAME TOKEN, npm config set //host/:_authToken T
        if not seen.isdisjoint(_CONFIG):
            if arg.startswith("pypi-token."):
                pending = _WHOLE
            elif arg.startswith("http-basic."):
                skip, pending = 1, _WHOLE
            elif secret_name(arg.rsplit(":", 1)[-1].rsplit(".", 1)[-1]):
                pending = _WHOLE
        seen.add(arg)
    ended()
    return masks


# -- a shell script given as one argument --------------------------------------------------------

# a word, a separator, or a backslash before a line's end (the line goes on: no word)
_SHELL_WORD = Lazy(
    r"""\\\n|(?:[^\s'"\\;|&()`]|\\[\s\S]|'[^']*'|"(?:[^"\\]|\\[\s\S])*"|['"\\])+|&&|\|\||[;|&()\n`]"""
)


_QUOTING = Lazy(r"['\"\\]")
_SPACE = re.compile(r"\s")


def _unquoted(raw: str) -> tuple[str, Sequence[int]]:
    """A shell word without its quotes, and where each of its characters is in `raw`."""
    if not _QUOTING.search(raw):
        return raw, range(len(raw))
    chars: list[str] = []
    where: list[int] = []
    quote = ""
    i = 0
    while i < len(raw):
        c = raw[i]
        if quote and c == quote:
            quote = ""
        elif not quote and c in "'\"":
            quote = c
        elif c == "\\" and quote != "'" and i + 1 < len(raw):
            i += 1
            if raw[i] != "\n":  # a backslash before a line's end: the line goes on, both gone
                chars.append(raw[i])
                where.append(i)
        else:
            chars.append(c)
            where.append(i)
        i += 1
    return "".join(chars), where


# A variable set by a call or a builtin rather than NAME=value: fish's `set -gx NAME VALUE`, csh's
# `setenv NAME VALUE`, Python's os.environ.setdefault("NAME", "x") and os.putenv, Perl's
# $ENV{NAME} = "x"; the value is masked where the name is a secret's
_SETTER = Lazy(
    r"(?:(?<![\w-])set(?:\s+-[a-zA-Z]+)+|(?<![\w-])setenv)\s+(?P<name>[A-Za-z_]\w{0,63})\s+(?P<word>\S+)"
    r"|(?:environ\.setdefault|putenv)\(\s*(?P<q>[\"'])(?P<pname>[A-Za-z_]\w{0,63})(?P=q)\s*,\s*"
    r"|\$ENV\{\s*[\"']?(?P<ename>[A-Za-z_]\w{0,63})[\"']?\s*\}\s*=\s*"
)


# What a script writes into a configuration file, or hands a library, by its form: an INI or
# TOML line (`aws_secret_access_key = X` in ~/.aws/credentials, `password = X` in ~/.pypirc,
# a line after a heredoc's newline or printf's `\n`), an XML element (`<password>X</password>`)
# or NuGet's `key="ClearTextPassword" value="X"`, a YAML block scalar (`password: |` then the
# value's indented lines); and secrets by the call that takes them (requests' HTTPBasicAuth(u,
# p), PowerShell's SetEnvironmentVariable and ConvertTo-SecureString, GitHub's ::add-mask::)
_FILE_FORM_HINT = re.compile(
    r"[ \t]=|=[ \t]|</|value=\"|[|>][-+]?[ \t]*(?:\n|\\n)|Auth\(|SecureString|add-mask|Environment"
)
_CONFIG_LINE = Lazy(
    r"(?:^|(?<=\n)|(?<=\\n))[ \t]*(?P<name>[A-Za-z_][\w.-]{0,63})(?:[ \t]+=|=[ \t]+)[ \t]*"
    r"(?P<value>(?:(?!\\n)[^\n\"'])+)"
)
_XML_ELEMENT = Lazy(r"<(?P<name>[A-Za-z_][\w.:-]{0,63})>(?P<value>[^<]{1,4096})</(?P=name)>")
_XML_KEY_VALUE = Lazy(r"key=\"(?P<name>[^\"]{1,64})\"\s{1,16}value=\"(?P<value>[^\"]*)\"")
_YAML_BLOCK = Lazy(  # a line ends with a newline, or printf's `\n`
    r"(?P<name>[A-Za-z_][\w.-]{0,63}):[ \t]*[|>][-+]?[ \t]*(?:\n|\\n)"
    r"(?P<value>(?:[ \t]+(?:(?!\\n)[^\n])*(?:\n|\\n|$))+)"
)
_TAKEN_BY_CALL = Lazy(
    r"HTTP(?:Basic|Digest|Proxy)Auth\((?P<a>[^)]{1,512})\)"
    r"|ConvertTo-SecureString\s+(?:-String\s+)?(?P<b>'[^']*'|\"[^\"]*\"|\S+)"
    r"|::add-mask::(?P<c>[^\s'\"]+)"
)
_PS_SETTER = Lazy(r"SetEnvironmentVariable\(\s*['\"](?P<name>[A-Za-z_]\w{0,63})['\"]\s*,\s*")


def _file_form_spans(text: str) -> Iterable[tuple[int, int]]:
    for pattern in (_CONFIG_LINE, _XML_ELEMENT, _XML_KEY_VALUE, _YAML_BLOCK):
        for m in pattern.finditer(text):
            if secret_name(m.group("name")) and m.group("value").strip():
                start, end = m.span("value")
                if "%s" in m.group("value"):  # printf's format: the secret is its argument, further on
                    end = text.find("\n", end) if "\n" in text[end:] else len(text)
                yield start, end
    for m in _TAKEN_BY_CALL.finditer(text):
        yield m.span(m.lastgroup or 0)
        if m.lastgroup == "c" and len(declared := m.group("c")) >= 4:  # a secret the job declared:
            at = text.find(declared)  # wherever else it is (`tok=X; echo "::add-mask::X"`)
            while at >= 0:
                yield at, at + len(declared)
                at = text.find(declared, at + len(declared))
    for m in _PS_SETTER.finditer(text):
        if secret_name(m.group("name")):
            span = _value_span(_PAIR_VALUE.match(text, m.end()))
            if span is not None:
                yield span


def _setter_spans(text: str) -> Iterable[tuple[int, int]]:
    for m in _SETTER.finditer(text):
        name = m.group("name") or m.group("pname") or m.group("ename")
        if not secret_name(name):
            continue
        if m.group("word") is not None:
            yield m.span("word")
        else:
            span = _value_span(_PAIR_VALUE.match(text, m.end()))
            if span is not None:
                yield span


# an option's or a setting's name and `=`, before a value that is a command line:
# `--rsh=sshpass -p X ssh`, git's `core.sshCommand=...`, ssh's `ProxyCommand=...`
_COMMAND_VALUE = Lazy(r"-{0,2}[A-Za-z][\w.-]*=(?=\S+\s+\S)")


# a short option's letters, the last one's value attached, before a blank: `-avzesshpass -p`
_ATTACHED = Lazy(r"-[A-Za-z]{2,16}(?=\s+\S)")


def _script_spans(text: str, depth: int = 3) -> Iterable[tuple[int, int]]:
    """The secrets a script's words hold by their place (`sh -c 'curl -u user:pass ...'`), and
    those of the scripts quoted in it (`ssh host "sh -c '...'"`) or given as an option's value
    (`rsync --rsh="sshpass -p X ssh"`), down to `depth`."""
    named = _COMMAND_VALUE.match(text)
    if named is not None and depth > 1:
        for a, b in _script_spans(text[named.end() :], depth - 1):
            yield named.end() + a, named.end() + b
    elif depth > 1 and (attached := _ATTACHED.match(text)) is not None:
        # an option cluster with a command line as its last option's value, `-e'sshpass -p X ssh'`
        # (rsync -e, scp -S): where the options end is not written, so each place is tried
        for at in range(2, attached.end()):
            for a, b in _script_spans(text[at:], depth - 1):
                yield at + a, at + b
    words = [(m.start(), *_unquoted(m.group())) for m in _SHELL_WORD.finditer(text) if m.group() != "\\\n"]
    for i, offset in _command_masks([w for _, w, _ in words]).items():
        start, word, where = words[i]
        if offset < len(word):
            yield start + where[offset], start + where[-1] + 1
    if depth > 1:
        for start, word, where in words:
            if _SPACE.search(word):
                for a, b in _script_spans(word, depth - 1):
                    yield start + where[a], start + where[b - 1] + 1


# The rest of a string literal of a script (Python, JSON, JavaScript...) after its opening
# quote, on one line; what may stand between two items of a list of them (a string prefix: f"x")
_REST = {q: Lazy(rf"(?:[^{q}\\\n]|\\.)*+{q}") for q in "\"'"}
_QUOTE = Lazy("[\"'`]")
# (a program apart from its arguments: spawn("curl", ["-u", x]), ["curl"] + ["-u", x])
_ITEMS = Lazy(r"\s*+(?:[\])]\s*+)?[,+]\s*+(?:(?:#|//)[^\n]*+\n\s*+)*+(?:[\[(]\s*+)?[fFrRbBuU]{0,2}")


def _literals(text: str) -> Iterable[tuple[int, int, int, int]]:
    """Each string literal in `text`: where it opens, its contents start and end, and where it
    ends. In
    one pass: a quote with no end on its line is one after which, up to the line's end, no
    quote of its kind opens a literal either (each is escaped), so none is looked at again."""
    dead = {'"': -1, "'": -1}  # up to here, a quote of that kind opens nothing
    at = 0
    while (found := _QUOTE.search(text, at)) is not None:
        start = found.start()
        quote = text[start]
        if quote == "`":  # a JavaScript template literal, over lines
            end = text.find("`", start + 1)
            if end < 0:
                return
            yield start, start + 1, end, end + 1
            at = end + 1
            continue
        if text.startswith(quote * 3, start):  # a triple-quoted string, over lines
            end = text.find(quote * 3, start + 3)
            if end < 0:
                return
            yield start, start + 3, end, end + 3
            at = end + 3
            continue
        rest = None if start < dead[quote] else _REST[quote].match(text, start + 1)
        if rest is None:
            if start >= dead[quote]:
                line_end = text.find("\n", start)
                dead[quote] = len(text) if line_end < 0 else line_end
            at = start + 1
            continue
        yield start, start + 1, rest.end() - 1, rest.end()
        at = rest.end()


def _literal_spans(text: str) -> Iterable[tuple[int, int]]:
    """The secrets a list of string literals holds by place: a command line a script writes as
    a list (`subprocess.run(["curl", "-u", "user:pass", url])`, `["--password", f"X"]`, a JSON
    array of arguments) is read as one."""
    items: list[tuple[int, str]] = []  # each literal's text, and where it starts
    last = -1
    for opening, start, end, after in _literals(text):
        if items and _ITEMS.fullmatch(text, last, opening) is None:
            yield from _items_spans(items)
            items = []
        items.append((start, text[start:end]))
        last = after
    yield from _items_spans(items)


def _items_spans(items: list[tuple[int, str]]) -> Iterable[tuple[int, int]]:
    if len(items) < 2:
        return
    for i, offset in _command_masks([word for _, word in items]).items():
        start, word = items[i]
        if offset < len(word):
            yield start + offset, start + len(word)


# -- masking -------------------------------------------------------------------------------------


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > start:
            out.append((start, end))
    return out


def _masked(text: str, spans: Iterable[tuple[int, int]]) -> str:
    merged = _merged(spans)
    if not merged:
        return text
    parts: list[str] = []
    last = 0
    for start, end in merged:
        parts += [text[last:start], MASK]
        last = end
    parts.append(text[last:])
    return "".join(parts)


class KnownSecrets:
    """Where the values known to be secret are in a text: leftmost first, the longest of those
    starting there, then on after it (an alternation's finditer, longest first). A few are one
    alternation; past `alternation` of them, each is found by its first MIN_KNOWN characters in
    a dict, then by a walk down a tree of the rest of the values of that head (as far as the
    text follows one), in one pass over the text: an alternation of thousands (a hostile trace's
    environment) is tried one by one at each character, and so were thousands of values of one
    head."""

    _END = ""  # a value ends at this node of the tree (no character is "")

    def __init__(self, secrets: Iterable[str], alternation: int = 64) -> None:
        usable = sorted({s for s in secrets if len(s) >= MIN_KNOWN and s != REDACTED}, key=len, reverse=True)
        few = len(usable) <= alternation
        self._pattern = re.compile("|".join(map(re.escape, usable))) if few else None
        self._by_head: dict[str, dict[str, Any]] = {}
        if self._pattern is None:
            for secret in usable:
                node = self._by_head.setdefault(secret[:MIN_KNOWN], {})
                for character in secret[MIN_KNOWN:]:
                    node = node.setdefault(character, {})
                node[self._END] = {}

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        if self._pattern is not None:
            yield from (m.span() for m in self._pattern.finditer(text))
            return
        heads, at, last, size = self._by_head, 0, len(text) - MIN_KNOWN, len(text)
        while at <= last:
            node = heads.get(text[at : at + MIN_KNOWN])
            if node is None:
                at += 1
                continue
            end = at + MIN_KNOWN if self._END in node else None
            i = at + MIN_KNOWN
            while i < size and (node := node.get(text[i])) is not None:
                i += 1
                if self._END in node:
                    end = i
            if end is None:
                at += 1
            else:
                yield at, end
                at = end


@lru_cache(maxsize=8)
def _known_secrets(secrets: frozenset[str]) -> KnownSecrets | None:
    usable = [s for s in secrets if len(s) >= MIN_KNOWN and s != REDACTED]
    return KnownSecrets(usable) if usable else None


class Redactor:
    """Masks secrets by their form, and `secrets` (values known to be secret) wherever they are."""

    def __init__(self, secrets: Collection[str] = ()) -> None:
        self._known = _known_secrets(frozenset(secrets))
        self._argvs: dict[tuple[str, ...], list[str]] = {}  # a build runs the same command often

    def _spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if _HINT.search(text):
            spans += _form_spans(text)
        if _SPACE.search(text):
            spans += _script_spans(text)
        if "," in text and ('"' in text or "'" in text):
            spans += _literal_spans(text)
        if "ENV" in text or "env" in text or "set" in text:
            spans += _setter_spans(text)
        if _FILE_FORM_HINT.search(text):
            spans += _file_form_spans(text)
        if self._known is not None:
            spans += self._known.spans(text)
            for form, where in _decodings(text):  # a known secret encoded: %2F for its slash...
                spans += ((where[start], where[end]) for start, end in self._known.spans(form))
        return spans

    def text(self, text: str) -> str:
        """One value (an environment variable's, say), its secrets masked."""
        return self._settled(text, [])

    def _settled(self, text: str, spans: list[tuple[int, int]]) -> str:
        """`text` masked (by its forms, and `spans`), then again until nothing more is: a mask
        can make with what follows it a shape masked in turn (`***@pw:***,***@a0`), and what
        rotrace writes is read back as it was written (masking is idempotent)."""
        for _ in range(_SETTLING):
            masked = _masked(text, [*spans, *self._spans(text)])
            if masked == text:
                break
            text, spans = masked, []
        return text

    def argv(self, argv: Sequence[str]) -> list[str]:
        """A command line, its secrets masked: what each argument holds, and what it holds by
        its place (the argument after `--password`)."""
        key = tuple(argv)
        done = self._argvs.get(key)
        if done is None:
            masks = _command_masks(argv)
            done = []
            for i, arg in enumerate(argv):
                done.append(self._settled(arg, [(masks[i], len(arg))] if i in masks else []))
            self._argvs[key] = done
        return list(done)

    def found(self, argv: Sequence[str]) -> set[str]:
        """The secrets a command line holds by their form or place (of MIN_KNOWN characters or
        more): known, they are masked in every other command line too, where nothing marks them
        (`tool --password S3cret...` passing it on to a child as a plain argument)."""
        masked = self.argv(argv)
        if masked == list(argv):
            return set()
        masks = _command_masks(argv)
        found: set[str] = set()
        for i, (arg, done) in enumerate(zip(argv, masked, strict=True)):
            if arg != done:
                found |= self._secrets(arg, [(masks[i], len(arg))] if i in masks else [])
        return found

    def _secrets(self, text: str, spans: list[tuple[int, int]]) -> set[str]:
        return _learnt(text[a:b] for a, b in [*self._spans(text), *spans])

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """Environment variables: a secret-named one's value withheld, the others' masked."""
        return {
            name: REDACTED if value and secret_name(name) else self.text(value) for name, value in env.items()
        }


_SETTLING = 4  # passes of masking a value: each joins at most one more shape


def secrets_in(env: Mapping[str, str]) -> frozenset[str]:
    """The secrets an environment holds (the values of its secret-named variables, and what
    its values hold by their form), to mask wherever they appear: a token passed as
    $GITHUB_TOKEN in a script's argument, say. Values shorter than MIN_KNOWN are left out."""
    found: set[str] = set()
    for name, value in env.items():
        if secret_name(name):
            found.add(value)
        if _HINT.search(value):
            found |= _learnt(value[a:b] for a, b in _merged(_form_spans(value)))
    return frozenset(s for s in found if len(s) >= MIN_KNOWN and s not in (MASK, REDACTED))


def _learnt(secrets: Iterable[str]) -> set[str]:
    """Secrets found by their form, to mask wherever they appear (MIN_KNOWN characters or more):
    a URL's `user:password` is masked whole, and its password alone is what another command
    line carries (`helper PASS`). A part that holds the mask text is learnt by what else it
    holds: a password `Zq9***Secr3tVal` is one, where `user:***` (a value masked already, a
    trace read back) is no secret."""
    found = set()
    for secret in secrets:
        for part in (secret, secret.partition(":")[2]):
            if len(part.replace(MASK, "")) >= MIN_KNOWN:
                found.add(part)
    return found


def redact_argv(argv: Sequence[str], secrets: Collection[str] = ()) -> list[str]:
    return Redactor(secrets).argv(argv)


def redact_text(text: str, secrets: Collection[str] = ()) -> str:
    return Redactor(secrets).text(text)


def redact_environment(env: Mapping[str, str], secrets: Collection[str] = ()) -> dict[str, str]:
    return Redactor(secrets).environment(env)
