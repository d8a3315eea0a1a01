"""Read and check a desired-state folder: one site per YAML file, every error with its file, line and field.

Contract:
- `load_folder(path)` reads every entry directly in the folder that looks like a site file
  (`reconciler.desired.folder`: ``*.yaml`` / ``*.yml`` in any case, not hidden), in name order. An entry
  that cannot be read (a dangling or looping link, a folder, a FIFO, a file too large or unreadable) is
  an error with its path and no line, never skipped. A site with any error is absent from ``sites``;
  ``errors`` lists every error found (not only the first), file by file in that order and by line
  within a file. Nothing a file holds makes it raise: a check that fails unexpectedly is an error
  about that file (a bug to report), and the other files are still read. ``files`` maps
  every site name that could be read, valid or not, to its file, so a caller can tell "hq is invalid"
  from "hq is gone" (``files.keys() - sites.keys()`` are the invalid ones).
- A missing folder, a path that is not a folder and a folder without site files are errors too: a
  controller must never take "no files" for "no sites" (a Git checkout may be half-way).
- The same site declared in two files is an error in both, and the site is absent from ``sites``.
- `load_file(path)` checks one file alone: YAML (one document, no duplicate keys), the schema
  (`reconciler.desired.schema`), every ``{file: ...}`` secret reference (inside the directories the
  operator allows, and, where the file exists already, not writable by others:
  `reconciler.desired.secret_dirs`), then each declared keystore (readable with its password, the
  private key belongs to the certificate, the certificate is the declared ``sha256``, RSA of at least
  2048 bits, not expired). The keystore checks read secrets (a PKCS#12 password), so validating a site
  with keystores needs them; other secrets (the API password, command environments) are only resolved
  when they are used. ``secret_dirs`` defaults to the process's policy (`SecretDirs.from_environment`).
- Errors never contain a secret value (see `reconciler.desired.messages`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from reconciler.desired.folder import SITE_SUFFIXES, UnreadableFile, list_site_files, read_site_file
from reconciler.desired.folder import site_files as site_files  # noqa: PLC0414 (re-exported for callers)
from reconciler.desired.keystore import KeystoreError, read_keystore
from reconciler.desired.messages import describe, format_path
from reconciler.desired.schema import DesiredSite
from reconciler.desired.secret_dirs import SecretDirs
from reconciler.desired.secrets import SecretError, file_secret_problem, secret_references
from reconciler.desired.yamlsource import YamlDocument, YamlPath, YamlSourceError, parse_yaml

MIN_RSA_BITS = 2048
"""SEPM refuses to import a server certificate with a shorter RSA key."""
_TOP_KEYS = "site, api, servers and managementServerLists"


@dataclass(frozen=True)
class LoadError:
    file: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else str(self.file)
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadResult:
    sites: dict[str, DesiredSite]
    errors: list[LoadError]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _FileOutcome:
    site: DesiredSite | None
    errors: list[LoadError]
    name: str | None = None
    name_line: int | None = None


def load_file(
    path: Path, *, secret_dirs: SecretDirs | None = None
) -> tuple[DesiredSite | None, list[LoadError]]:
    """One site file: the site when it is valid (else None), and every error in line order."""
    outcome = _read_site_isolated(path, secret_dirs or SecretDirs.from_environment())
    return outcome.site, outcome.errors


def load_folder(path: Path, *, secret_dirs: SecretDirs | None = None) -> LoadResult:
    """Every site file directly in ``path``; see the module docstring for what counts as an error."""
    dirs = secret_dirs or SecretDirs.from_environment()
    if not path.exists():
        return LoadResult(sites={}, errors=[LoadError(path, None, None, "no such folder")])
    if not path.is_dir():
        return LoadResult(sites={}, errors=[LoadError(path, None, None, "not a folder")])
    try:
        paths = list_site_files(path)
    except OSError as exc:
        message = f"cannot list: {exc.strerror or type(exc).__name__}"
        return LoadResult(sites={}, errors=[LoadError(path, None, None, message)])
    if not paths:
        message = f"holds no desired-state file ({', '.join('*' + s for s in SITE_SUFFIXES)})"
        return LoadResult(sites={}, errors=[LoadError(path, None, None, message)])
    outcomes = {file: _read_site_isolated(file, dirs) for file in paths}
    declared: dict[str, list[Path]] = {}
    for file, outcome in outcomes.items():
        if outcome.name is not None:
            declared.setdefault(outcome.name, []).append(file)
    for name, files in declared.items():
        for file in files if len(files) > 1 else []:
            outcome = outcomes[file]
            others = ", ".join(str(other) for other in files if other != file)
            outcome.errors.append(
                LoadError(file, outcome.name_line, "site", f"site {name!r} is also declared in {others}")
            )
            outcome.errors.sort(key=_line_order)
            outcome.site = None
    return LoadResult(
        sites={o.site.site: o.site for o in outcomes.values() if o.site is not None},
        errors=[error for outcome in outcomes.values() for error in outcome.errors],
        files={name: files[0] for name, files in declared.items()},
    )


def secret_problems(site: DesiredSite, *, base: Path, dirs: SecretDirs) -> list[tuple[YamlPath, str]]:
    """What would stop a ``{file: ...}`` secret of the site from being read, with the reference's path."""
    found = ((at, file_secret_problem(ref, base=base, dirs=dirs)) for at, ref in secret_references(site))
    return [(at, problem) for at, problem in found if problem is not None]


def keystore_problems(
    site: DesiredSite, *, base: Path, now: datetime, dirs: SecretDirs, skip: Collection[YamlPath] = ()
) -> list[tuple[YamlPath, str]]:
    """What is wrong with the keystores a site declares, each with the path of the key to blame.

    A keystore whose password is at a path in ``skip`` (already refused) is not opened.
    """
    problems: list[tuple[YamlPath, str]] = []
    for index, server in enumerate(site.servers):
        declared = server.certificate.keystore
        if declared is None:
            continue
        at: YamlPath = ("servers", index, "certificate", "keystore")
        if (*at, "password") in skip:
            continue
        try:
            contents = read_keystore(declared, base=base, dirs=dirs)
        except SecretError as exc:
            problems.append(((*at, "password"), f"cannot read the keystore password: {exc}"))
            continue
        except KeystoreError as exc:
            problems.append((at, str(exc)))
            continue
        where = contents.path
        if contents.fingerprint != server.certificate.sha256:
            problems.append(
                (
                    ("servers", index, "certificate", "sha256"),
                    f"does not match the certificate in keystore {where}, which is {contents.fingerprint}",
                )
            )
        if contents.key_type != "RSA":
            problems.append(
                (
                    at,
                    f"the certificate in {where} has a {contents.key_bits}-bit {contents.key_type} key; "
                    "SEPM needs an RSA key",
                )
            )
        elif contents.key_bits < MIN_RSA_BITS:
            problems.append(
                (
                    at,
                    f"the certificate in {where} has a {contents.key_bits}-bit RSA key; SEPM refuses keys "
                    f"under {MIN_RSA_BITS} bits",
                )
            )
        if contents.not_after <= now:
            problems.append((at, f"the certificate in {where} expired on {contents.not_after:%Y-%m-%d} UTC"))
    return problems


def _read_site_isolated(path: Path, dirs: SecretDirs) -> _FileOutcome:
    """`_read_site`, with an unexpected failure reported against this file alone (``could not be checked``).

    Every failure a file can cause is meant to be a LoadError already; this is the net under that
    promise, so that a bug meets one site and not the folder. The message names the exception's type
    only: its text could quote the file, and the file could hold a secret.
    """
    try:
        return _read_site(path, dirs)
    except Exception as exc:
        message = f"could not be checked: {type(exc).__name__} in the desired-state loader (a bug to report)"
        return _FileOutcome(None, [LoadError(path, None, None, message)])


def _read_site(path: Path, dirs: SecretDirs) -> _FileOutcome:
    try:
        raw = read_site_file(path)
    except UnreadableFile as exc:
        return _FileOutcome(None, [LoadError(path, None, None, f"cannot read: {exc}")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return _FileOutcome(None, [LoadError(path, line, None, "not UTF-8 text")])
    try:
        document = parse_yaml(text)
    except YamlSourceError as exc:
        return _FileOutcome(None, [LoadError(path, exc.line, None, exc.message)])
    data = document.data
    if data is None:
        message = f"the file is empty; a site file is one mapping with {_TOP_KEYS}"
        return _FileOutcome(None, [LoadError(path, 1, None, message)])
    if not isinstance(data, dict):
        message = f"expected a mapping with {_TOP_KEYS} at the top level, found {_kind(data)}"
        return _FileOutcome(None, [LoadError(path, document.line_of(()), None, message)])
    name, name_line = _declared_name(document)
    outcome = _FileOutcome(None, [], name, name_line)
    for repeat in document.duplicates:
        outcome.errors.append(
            LoadError(
                path,
                repeat.line,
                format_path(repeat.path),
                f"duplicate key (first written at line {repeat.first_line})",
            )
        )
    try:
        site = DesiredSite.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        for detail in exc.errors():
            loc, message = describe(detail)
            outcome.errors.append(_error(path, document, loc, message))
    else:
        refused = secret_problems(site, base=path.parent, dirs=dirs)
        now = datetime.now(UTC)
        skip = {loc for loc, _ in refused}
        keystores = keystore_problems(site, base=path.parent, now=now, dirs=dirs, skip=skip)
        for loc, message in refused + keystores:
            outcome.errors.append(_error(path, document, loc, message))
        if not outcome.errors:
            outcome.site = site
    outcome.errors.sort(key=_line_order)
    return outcome


def _error(path: Path, document: YamlDocument, loc: YamlPath, message: str) -> LoadError:
    return LoadError(path, document.line_of(loc), format_path(loc) or None, message)


def _declared_name(document: YamlDocument) -> tuple[str | None, int | None]:
    name = document.data.get("site") if isinstance(document.data, dict) else None
    if isinstance(name, str) and name:
        return name, document.line_of(("site",))
    return None, None


def _line_order(error: LoadError) -> int:
    return error.line if error.line is not None else 0


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__
