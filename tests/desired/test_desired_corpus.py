"""The invalid corpus: every file in tests/desired/invalid/ fails with exactly the errors listed here.

Each corpus file is a whole site with one defect (or a few, to show that all are reported). Files that
name keystores are copied beside keystores generated for the session (see conftest), with
``${sha256:<name>}`` and ``${dir}`` filled in, in the file and in its expected errors alike. That folder
is the one directory ``{file: ...}`` secrets may be read from (``secrets_beside_keystores``). An entry is
``"line: field: message"``: `LoadError.__str__` without the file name.
"""

# The table holds whole messages, exactly as a user reads them; wrapping them would hide that.

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired.loader import LoadError, load_file, load_folder

CORPUS = Path(__file__).resolve().parent / "invalid"

pytestmark = pytest.mark.usefixtures("secrets_beside_keystores")

# Values written into corpus files where a secret would be: no error may ever repeat them.
SECRETS_IN_CORPUS = ("Winter2024", "3f9a0c1d7e", "correct horse battery staple", "not the password")

EXPECTED: dict[str, list[str]] = {
    "actuator-both.yaml": [
        "14: actuators.certificateUpdate: choose exactly one of command or operator",
    ],
    "alias-bomb.yaml": [
        "2: the document expands to more than 100000 nodes (aliases used too often)",
    ],
    "argv-attribute.yaml": [
        "16: actuators.mslCopy.command.argv[1]: {site} is written with an attribute or an index; write it plainly: {site}",
    ],
    "argv-conversion.yaml": [
        "16: actuators.mslCopy.command.argv[1]: {site} is written with a conversion (!r) and a format spec; write it plainly: {site}",
    ],
    "argv-format-spec.yaml": [
        "16: actuators.certificateUpdate.command.argv[2]: {keystore} is written with a format spec; write it plainly: {keystore}",
    ],
    "argv-index.yaml": [
        "16: actuators.mslCopy.command.argv[1]: {site} is written with an attribute or an index; write it plainly: {site}",
    ],
    "argv-unknown-placeholder.yaml": [
        "16: actuators.certificateUpdate.command.argv[3]: unknown placeholder {password}; known: {address}, {fingerprint}, {http_port}, {http_ports}, {keystore}, {keystore_format}, {msl}, {msl_copy}, {server}, {site}, {step}",
    ],
    "command-durations-out-of-range.yaml": [
        "17: actuators.mslCopy.command.timeout: must be at least 1s",
        "18: actuators.mslCopy.command.settle: must be at most 1d",
    ],
    "command-env-name-invalid.yaml": [
        "18: actuators.mslCopy.command.env['TOOLS=KEY']: expected an environment variable name: letters, digits and '_', not starting with a digit",
        "19: actuators.mslCopy.command.env['']: expected an environment variable name: letters, digits and '_', not starting with a digit",
        "20: actuators.mslCopy.command.env['TOOLS\\x00KEY']: expected an environment variable name: letters, digits and '_', not starting with a digit",
    ],
    "duplicate-fingerprint.yaml": [
        "14: servers[1].certificate.sha256: duplicate certificate fingerprint: 'AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99'",
    ],
    "duplicate-keys.yaml": [
        "10: servers[0].address: duplicate key (first written at line 9)",
        "16: gates: duplicate key (first written at line 14)",
    ],
    "duplicate-server-name.yaml": [
        "10: servers[1].name: duplicate server name: 'sepm01'",
    ],
    "duration-clock.yaml": [
        "14: gates.timeout: expected a duration such as 30s, 5m, 24h or 7d, got '1:30'",
    ],
    "duration-not-finite.yaml": [
        "14: gates.minimumWait: expected a duration such as 30s, 5m, 24h or 7d, got -.inf, which is not a finite number",
        "15: gates.timeout: expected a duration such as 30s, 5m, 24h or 7d, got .inf, which is not a finite number",
        "17: controller.pollInterval: expected a duration such as 500ms, 30s or 5m, got .nan, which is not a finite number",
    ],
    "duration-too-long.yaml": [
        "14: gates.minimumWait: must be at most 30d",
        "15: gates.dormantAfter: must be at most 365d",
        "16: gates.timeout: must be at most 30d",
    ],
    "duration-words.yaml": [
        "14: gates.minimumWait: expected a duration such as 30s, 5m, 24h or 7d, got '3 days'",
    ],
    "empty.yaml": [
        "1: the file is empty; a site file is one mapping with site, api, servers and managementServerLists",
    ],
    "fingerprint-not-hex.yaml": [
        "14: servers[0].certificate.previousSha256[1]: expected a SHA-256 fingerprint: 64 hex digits, optionally as 32 colon-separated pairs (got 95 characters)",
    ],
    "fingerprint-short.yaml": [
        "11: servers[0].certificate.sha256: expected a SHA-256 fingerprint: 64 hex digits, optionally as 32 colon-separated pairs (got 59 characters)",
    ],
    "fingerprint-target-also-previous.yaml": [
        "14: servers[0].certificate.previousSha256[1]: is the target sha256 itself; previousSha256 lists the certificates in service today, which the rotation replaces",
    ],
    "gates-dormant-zero.yaml": [
        "14: gates.dormantAfter: must be at least 1d",
    ],
    "gates-lagging-too-many.yaml": [
        "14: gates.maxLaggingClients: must be at most 100",
    ],
    "gates-negative-lagging.yaml": [
        "13: gates.heartbeatCycles: must be at least 1",
        "14: gates.maxLaggingClients: must be at least 0",
    ],
    "gates-timeout-within-minimum-wait.yaml": [
        "15: gates.timeout: must be longer than minimumWait (1d): the gate could not open before its deadline",
    ],
    "gates-timeout-zero.yaml": [
        "14: gates.timeout: must be at least 10m",
    ],
    "heartbeat-cycles-word.yaml": [
        "14: gates.heartbeatCycles: expected a whole number",
    ],
    "keystore-cert-only.yaml": [
        "12: servers[0].certificate.keystore: PEM keystore ${dir}/keystores/cert-only.pem holds no private key",
    ],
    "keystore-encrypted-key-no-password.yaml": [
        "12: servers[0].certificate.keystore: the private key in ${dir}/keystores/encrypted.pem is encrypted: give keystore.password",
    ],
    "keystore-expired.yaml": [
        "12: servers[0].certificate.keystore: the certificate in ${dir}/keystores/expired.pem expired on 2020-06-30 UTC",
    ],
    "keystore-fingerprint-mismatch.yaml": [
        "11: servers[0].certificate.sha256: does not match the certificate in keystore ${dir}/keystores/good.pem, which is ${sha256:good.pem}",
    ],
    "keystore-format-unknown.yaml": [
        "12: servers[0].certificate.keystore.format: expected 'pem' or 'pkcs12'",
    ],
    "keystore-key-mismatch.yaml": [
        "12: servers[0].certificate.keystore: the private key in ${dir}/keystores/mismatch.pem does not belong to its certificate",
    ],
    "keystore-missing-file.yaml": [
        "12: servers[0].certificate.keystore: cannot read keystore ${dir}/keystores/absent.p12: No such file or directory",
    ],
    "keystore-not-a-keystore.yaml": [
        "12: servers[0].certificate.keystore: cannot open PKCS#12 keystore ${dir}/keystores/garbage.p12: wrong password, or the file is not PKCS#12",
    ],
    "keystore-not-rsa.yaml": [
        "12: servers[0].certificate.keystore: the certificate in ${dir}/keystores/ec.pem has a 256-bit EC key; SEPM needs an RSA key",
    ],
    "keystore-p12-no-password.yaml": [
        "12: servers[0].certificate.keystore: cannot open PKCS#12 keystore ${dir}/keystores/good.p12: it needs a password (keystore.password), or the file is not PKCS#12",
    ],
    "keystore-password-unset.yaml": [
        "14: servers[0].certificate.keystore.password: cannot read the keystore password: environment variable SEPM_RECONCILER_TEST_UNSET_PASSWORD is not set",
    ],
    "keystore-rsa-1024.yaml": [
        "12: servers[0].certificate.keystore: the certificate in ${dir}/keystores/rsa-1024.pem has a 1024-bit RSA key; SEPM refuses keys under 2048 bits",
    ],
    "keystore-two-problems.yaml": [
        "12: servers[0].certificate.keystore: the certificate in ${dir}/keystores/expired.pem expired on 2020-06-30 UTC",
        "16: servers[1].certificate.sha256: does not match the certificate in keystore ${dir}/keystores/ec.pem, which is ${sha256:ec.pem}",
        "17: servers[1].certificate.keystore: the certificate in ${dir}/keystores/ec.pem has a 256-bit EC key; SEPM needs an RSA key",
    ],
    "keystore-wrong-format.yaml": [
        "12: servers[0].certificate.keystore: cannot open PKCS#12 keystore ${dir}/keystores/good.pem: wrong password, or the file is not PKCS#12",
    ],
    "keystore-wrong-password.yaml": [
        "12: servers[0].certificate.keystore: cannot open PKCS#12 keystore ${dir}/keystores/good.p12: wrong password, or the file is not PKCS#12",
    ],
    "missing-required.yaml": [
        "2: api: required key is missing",
        "4: servers[0].address: required key is missing",
    ],
    "misspelled-key.yaml": [
        "10: servers[0].certificate.sha256: required key is missing",
        "11: servers[0].certificate.sha265: unknown key; did you mean sha256? (allowed here: keystore, previousSha256, sha256)",
    ],
    "msl-copy-name-clash.yaml": [
        "16: managementServerLists[1].httpCopy: duplicate management server list or HTTP copy name: 'Default Management Server List'",
    ],
    "msl-unknown-server.yaml": [
        "17: managementServerLists[1].servers[1]: management server list 'Laptops' names server 'sepm03', which is not under servers (sepm01)",
    ],
    "multi-server-one-server.yaml": [
        "13: procedure: procedure multi-server needs two or more servers",
    ],
    "number-too-many-digits.yaml": [
        "14: invalid YAML: a whole number of 5000 digits is longer than any setting takes",
    ],
    "numbers-boolean.yaml": [
        "10: servers[0].ports.https: expected a whole number, not true or false",
        "15: gates.heartbeatCycles: expected a whole number, not true or false",
        "16: gates.maxLaggingClients: expected a whole number, not true or false",
    ],
    "poll-interval-too-long.yaml": [
        "14: controller.pollInterval: must be at most 1h",
    ],
    "port-quoted.yaml": [
        "10: servers[0].ports.http: expected a whole number",
    ],
    "port-too-large.yaml": [
        "10: servers[0].ports.https: must be at most 65535",
    ],
    "port-zero.yaml": [
        "9: servers[0].ports.http: must be at least 1",
    ],
    "procedure-unknown.yaml": [
        "12: procedure: expected 'auto', 'single-server' or 'multi-server'",
    ],
    "python-tag.yaml": [
        "2: invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.getcwd'",
    ],
    "secret-env-and-file.yaml": [
        "6: api.password: give exactly one of env or file",
    ],
    "secret-env-name-invalid.yaml": [
        "6: api.password.env: expected an environment variable name: letters, digits and '_', not starting with a digit",
    ],
    "secret-file-keystore-password-outside.yaml": [
        "14: servers[0].certificate.keystore.password: secret file /etc/sepm-reconciler-corpus/keystore-password is outside the directories secrets may be read from (${dir}); the operator allows one with --secret-dir or SEPM_RECONCILER_SECRET_DIRS",
    ],
    "secret-file-outside.yaml": [
        "6: api.password: secret file /etc/sepm-reconciler-corpus/api-password is outside the directories secrets may be read from (${dir}); the operator allows one with --secret-dir or SEPM_RECONCILER_SECRET_DIRS",
    ],
    "secret-file-relative-escape.yaml": [
        "18: actuators.mslCopy.command.env.TOOLS_TOKEN: secret file ${dir}/../tokens/copy-msl is outside the directories secrets may be read from (${dir}); the operator allows one with --secret-dir or SEPM_RECONCILER_SECRET_DIRS",
    ],
    "secret-inline-command-env.yaml": [
        "19: actuators.mslCopy.command.env.TOOLS_KEY: secrets are not written in desired state: give a reference, {env: VARIABLE} or {file: PATH}",
    ],
    "secret-inline-keystore-password.yaml": [
        "12: servers[0].certificate.keystore.password: secrets are not written in desired state: give a reference, {env: VARIABLE} or {file: PATH}",
    ],
    "secret-inline-password.yaml": [
        "6: api.password: secrets are not written in desired state: give a reference, {env: VARIABLE} or {file: PATH}",
    ],
    "servers-empty.yaml": [
        "6: servers: needs at least 1 item",
    ],
    "servers-not-a-list.yaml": [
        "7: servers: expected a list",
    ],
    "site-name-spaces.yaml": [
        "1: site: expected a name of letters, digits, '.', '_' and '-' that starts with a letter or digit",
    ],
    "snake-case-key.yaml": [
        "2: managementServerLists: required key is missing",
        "11: management_server_lists: unknown key; keys are camelCase: write managementServerLists",
    ],
    "syntax-bad-indent.yaml": [
        "9: invalid YAML: mapping values are not allowed here",
    ],
    "syntax-tab-indent.yaml": [
        "4: invalid YAML: found character '\\t' that cannot start any token (while scanning for the next token)",
    ],
    "syntax-unclosed-flow.yaml": [
        "14: invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 13)",
    ],
    "top-level-list.yaml": [
        "2: expected a mapping with site, api, servers and managementServerLists at the top level, found a list",
    ],
    "two-documents.yaml": [
        "12: one site per file, but a second YAML document starts here",
    ],
    "unknown-top-key.yaml": [
        "7: credentials: unknown key (allowed here: actuators, api, controller, gates, managementServerLists, noFailoverVersions, procedure, secureCommunicationsOff, servers, site)",
    ],
    "url-bad-port.yaml": [
        "3: api.url: expected an https URL with a host and a port from 1 to 65535",
    ],
    "url-credentials.yaml": [
        "4: api.url: credentials are not written in the URL: give api.username and api.password",
    ],
    "url-http.yaml": [
        "4: api.url: expected an https URL such as https://sepm01.corp.example:8446",
    ],
    "url-no-port.yaml": [
        "4: api.url: give the port explicitly: SEPM's REST API listens on 8446 (https://sepm01.test.example:8446)",
    ],
    "yaml-date-out-of-range.yaml": [
        "14: invalid YAML: this value cannot be read as a date",
    ],
    "yaml-nested-too-deep.yaml": [
        "13: collections nested more than 32 levels deep; a site file needs about seven",
    ],
    "yaml-tag-unreadable.yaml": [
        "7: invalid YAML: this value cannot be read as type bool",
    ],
}


def _without_file(error: LoadError) -> str:
    return str(error).removeprefix(f"{error.file}:")


def test_corpus_and_table_name_the_same_files():
    """Every corpus file has expected errors, and every expectation has its file (no silent gaps)."""
    on_disk = sorted(p.name for p in CORPUS.glob("*.yaml"))
    assert on_disk == sorted(EXPECTED)
    assert len(on_disk) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file_fails_with_exactly_its_errors(name, keystores, monkeypatch):
    """The file is refused, with exactly the expected errors (line, field, message), in line order."""
    monkeypatch.delenv("SEPM_RECONCILER_TEST_UNSET_PASSWORD", raising=False)
    path = keystores.install(CORPUS / name)
    site, errors = load_file(path)
    assert site is None
    assert [_without_file(e) for e in errors] == [keystores.fill(x) for x in EXPECTED[name]]
    assert all(e.file == path for e in errors)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file_errors_never_repeat_a_secret(name, keystores, monkeypatch):
    """No error about a corpus file contains a secret value written in it or in a password file."""
    monkeypatch.delenv("SEPM_RECONCILER_TEST_UNSET_PASSWORD", raising=False)
    _, errors = load_file(keystores.install(CORPUS / name))
    text = "\n".join(str(e) for e in errors)
    assert not [secret for secret in SECRETS_IN_CORPUS if secret in text]


def test_same_site_in_two_files_is_refused_in_both(tmp_path, keystores):
    """A site declared by two files is an error naming the other file in each, and neither is loaded."""
    folder = tmp_path / "desired-state"
    for source in sorted((CORPUS / "duplicate-site").glob("*.yaml")):
        keystores.install(source, folder)
    first, second = folder / "a-headquarters.yaml", folder / "b-headquarters-copy.yaml"
    result = load_folder(folder)
    assert [str(e) for e in result.errors] == [
        f"{first}:2: site: site 'corpus' is also declared in {second}",
        f"{second}:2: site: site 'corpus' is also declared in {first}",
    ]
    assert sorted(result.sites) == ["branch"]
    assert result.files["corpus"] == first
    assert not result.ok
