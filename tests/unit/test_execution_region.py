"""The process's execution region on every run (reference SDK §2.1): ``WAXELL_EXECUTION_REGION``, a cloud
runtime's variable, a cloud's metadata service (a real HTTP server on 127.0.0.1 standing in for it, found
through DMI strings written to a temporary directory), explicit metadata, the switch, a laptop; read back
from the embedded store; a detected region feeding the ``data-residency`` policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from waxell_observe import WaxellContext, execution_region, observe
from waxell_observe.client import builders
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance import embedded_decider, load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

ReadRun = Callable[[str], dict[str, Any]]


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Detection on, on a machine with no cloud variable and no DMI strings (a DMI directory of its own,
    where a test writes the strings of the machine it plays)."""
    monkeypatch.setenv("WAXELL_REGION_DETECT", "on")
    for name, _ in execution_region.CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in ("WEBSITE_SITE_NAME", "K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET"):
        monkeypatch.delenv(name, raising=False)
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    monkeypatch.setattr(execution_region, "_DMI_DIR", str(dmi))
    execution_region._reset()
    return dmi


def _region_of(metadata: dict[str, Any] | None) -> tuple[Any, Any]:
    metadata = metadata or {}
    return metadata.get("execution_region"), metadata.get("execution_region_source")


def test_the_declared_region_is_on_the_context_and_the_stored_run(
    machine: Path, monkeypatch: pytest.MonkeyPatch, read_run: ReadRun
) -> None:
    monkeypatch.setenv("WAXELL_EXECUTION_REGION", " eu-west-1 ")
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # the declaration comes first
    with WaxellContext("agent", enforce_policy=False) as ctx:
        pass
    assert ctx.metadata == {"execution_region": "eu-west-1", "execution_region_source": "declared"}
    assert read_run(ctx.run_id)["metadata"] == {
        "execution_region": "eu-west-1",
        "execution_region_source": "declared",
    }


def test_a_two_letter_declaration_is_a_country(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAXELL_EXECUTION_REGION", "de")
    assert _region_of(WaxellContext("agent").metadata) == ("DE", "declared")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"AWS_REGION": "eu-central-1"}, ("eu-central-1", "env:AWS_REGION")),
        ({"GOOGLE_CLOUD_REGION": "europe-west4"}, ("europe-west4", "env:GOOGLE_CLOUD_REGION")),
        ({"FUNCTION_REGION": "us-central1"}, ("us-central1", "env:FUNCTION_REGION")),
        ({"AZURE_REGION": "westeurope"}, ("westeurope", "env:AZURE_REGION")),
        ({"REGION_NAME": "West Europe", "WEBSITE_SITE_NAME": "app"}, ("westeurope", "env:REGION_NAME")),
        ({"REGION_NAME": "West Europe"}, (None, None)),  # not on Azure App Service: a name of anything
        ({"FLY_REGION": "fra"}, ("fra", "env:FLY_REGION")),
        ({"VERCEL_REGION": "cdg1"}, ("cdg1", "env:VERCEL_REGION")),
        ({"RAILWAY_REPLICA_REGION": "europe-west4"}, ("europe-west4", "env:RAILWAY_REPLICA_REGION")),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, (None, None)),  # the AWS CLI's default on a laptop
        ({"AWS_REGION": "eu-west-3", "FLY_REGION": "fra"}, ("eu-west-3", "env:AWS_REGION")),
    ],
)
def test_a_cloud_runtimes_variable(
    machine: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: tuple[Any, Any]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert _region_of(WaxellContext("agent").metadata) == expected
    assert execution_region._probe is None  # no DMI hint: nothing asked over the network


def test_explicit_metadata_wins_and_is_declared(
    machine: Path, monkeypatch: pytest.MonkeyPatch, read_run: ReadRun
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    given = {"execution_region": "DE", "team": "a"}
    with WaxellContext("agent", metadata=given, enforce_policy=False) as ctx:
        pass
    assert given == {"execution_region": "DE", "team": "a"}  # the caller's dict is not changed
    assert ctx.metadata == {"execution_region": "DE", "team": "a", "execution_region_source": "declared"}
    assert read_run(ctx.run_id)["metadata"] == ctx.metadata
    sourced = {"execution_region": "FR", "execution_region_source": "contract"}
    assert WaxellContext("agent", metadata=sourced).metadata is sourced
    other = WaxellContext("agent", metadata={"team": "b"}, end_user_id="u1").metadata
    assert other == {
        "team": "b",
        "tenant_sub_user_id": "u1",
        "execution_region": "us-east-1",
        "execution_region_source": "env:AWS_REGION",
    }


def test_observe_runs_carry_it_too(
    machine: Path, monkeypatch: pytest.MonkeyPatch, read_runs: Any, read_run: ReadRun
) -> None:
    monkeypatch.setenv("FLY_REGION", "ams")

    @observe(agent_name="decorated", enforce_policy=False, metadata={"team": "a"})
    def work() -> str:
        return "done"

    assert work() == "done"
    assert work() == "done"
    stored = read_runs(agent_name="decorated")
    assert [read_run(run["run_id"])["metadata"] for run in stored] == [
        {"team": "a", "execution_region": "ams", "execution_region_source": "env:FLY_REGION"}
    ] * 2


def test_detection_switched_off(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAXELL_REGION_DETECT", "0")
    monkeypatch.setenv("WAXELL_EXECUTION_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    (machine / "sys_vendor").write_text("Amazon EC2\n")
    assert WaxellContext("agent").metadata is None
    assert execution_region._probe is None
    assert builders.region_metadata() == {}


def test_a_laptop_gets_nothing_and_sends_no_probe(machine: Path, read_run: ReadRun) -> None:
    (machine / "sys_vendor").write_text("LENOVO\n")
    (machine / "product_name").write_text("20XW0055US\n")
    with WaxellContext("agent", enforce_policy=False) as ctx:
        pass
    assert ctx.metadata is None
    assert execution_region._probe is None
    assert read_run(ctx.run_id)["metadata"] == {}


# -- the metadata services --------------------------------------------------------------------------------


class MetadataService:
    """The three clouds' metadata endpoints on 127.0.0.1, each checking the header its cloud requires.
    ``status``: what every answer's status is; ``hold``: an event each request waits for before answering
    (set at ``close``)."""

    def __init__(self, status: int = 200, hold: threading.Event | None = None) -> None:
        self.status = status
        self.hold = hold
        self.seen: list[tuple[str, str]] = []
        self.arrived = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                service.seen.append((self.command, self.path))
                service.arrived.set()
                if service.hold is not None:
                    service.hold.wait(30)
                if service.status != 200:
                    status = service.status
                data = body.encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/latest/api/token" and self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds"
                ):
                    self._answer(200, "TOKEN-1")
                else:
                    self._answer(400, "")

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/latest/meta-data/placement/region":
                    token_ok = self.headers.get("X-aws-ec2-metadata-token") == "TOKEN-1"
                    self._answer(200 if token_ok else 401, "eu-central-1" if token_ok else "")
                elif self.path == "/computeMetadata/v1/instance/zone":
                    flavor_ok = self.headers.get("Metadata-Flavor") == "Google"
                    self._answer(
                        200 if flavor_ok else 403,
                        "projects/1234/zones/europe-west1-b",
                        {"Metadata-Flavor": "Google"},
                    )
                elif self.path.startswith("/metadata/instance/compute/location?"):
                    self._answer(200 if self.headers.get("Metadata") == "true" else 400, "westeurope")
                else:
                    self._answer(404, "")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., MetadataService]]:
    started: list[MetadataService] = []

    def start(status: int = 200, hold: threading.Event | None = None) -> MetadataService:
        stub = MetadataService(status, hold)
        started.append(stub)
        monkeypatch.setattr(execution_region, "_ENDPOINTS", dict.fromkeys(("aws", "gcp", "azure"), stub.url))
        return stub

    yield start
    for stub in started:
        stub.close()


AWS_NITRO = {"sys_vendor": "Amazon EC2", "bios_vendor": "Amazon EC2"}
AWS_XEN = {"sys_vendor": "Xen", "bios_version": "4.11.amazon", "product_version": "4.11.amazon"}
GCE = {"sys_vendor": "Google", "product_name": "Google Compute Engine"}
AZURE = {"sys_vendor": "Microsoft Corporation", "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}


def _play(dmi: Path, strings: dict[str, str]) -> None:
    for name, value in strings.items():
        (dmi / name).write_text(value + "\n")


@pytest.mark.parametrize(
    ("strings", "expected", "requests"),
    [
        (
            AWS_NITRO,
            ("eu-central-1", "metadata:aws"),
            [("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/placement/region")],
        ),
        (
            AWS_XEN,
            ("eu-central-1", "metadata:aws"),
            [("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/placement/region")],
        ),
        (GCE, ("europe-west1", "metadata:gcp"), [("GET", "/computeMetadata/v1/instance/zone")]),
        (
            AZURE,
            ("westeurope", "metadata:azure"),
            [("GET", "/metadata/instance/compute/location?api-version=2021-02-01&format=text")],
        ),
    ],
    ids=["aws-nitro", "aws-xen", "gcp", "azure"],
)
def test_a_cloud_vm_asks_its_metadata_service_once(
    machine: Path,
    service: Callable[..., MetadataService],
    read_run: ReadRun,
    strings: dict[str, str],
    expected: tuple[str, str],
    requests: list[tuple[str, str]],
) -> None:
    stub = service()
    _play(machine, strings)
    execution_region.start()
    assert execution_region.wait(10) == expected
    with WaxellContext("agent", enforce_policy=False) as ctx:
        pass
    with WaxellContext("agent", enforce_policy=False) as again:
        pass
    assert _region_of(read_run(ctx.run_id)["metadata"]) == expected
    assert _region_of(read_run(again.run_id)["metadata"]) == expected
    assert stub.seen == requests  # once per process, for every run
    assert builders.region_metadata() == {
        "execution_region": expected[0],
        "execution_region_source": expected[1],
    }


def test_google_serverless_is_asked_without_dmi(
    machine: Path, monkeypatch: pytest.MonkeyPatch, service: Callable[..., MetadataService]
) -> None:
    service()
    monkeypatch.setenv("K_SERVICE", "my-service")  # Cloud Run
    assert execution_region.wait(10) == ("europe-west1", "metadata:gcp")


@pytest.mark.parametrize("strings", [AWS_NITRO, GCE, AZURE], ids=["aws", "gcp", "azure"])
def test_a_404_is_no_region(
    machine: Path, service: Callable[..., MetadataService], read_run: ReadRun, strings: dict[str, str]
) -> None:
    stub = service(status=404)
    _play(machine, strings)
    assert execution_region.wait(10) is None
    assert len(stub.seen) == 1  # AWS: no token, no second request
    with WaxellContext("agent", enforce_policy=False) as ctx:
        pass
    assert ctx.metadata is None and read_run(ctx.run_id)["metadata"] == {}


def test_runs_never_wait_for_the_probe(
    machine: Path, monkeypatch: pytest.MonkeyPatch, service: Callable[..., MetadataService], read_run: ReadRun
) -> None:
    """A run made while the metadata service has not answered gets the environment's answer (none here)
    at once; the runs after the answer get the region."""
    monkeypatch.setattr(execution_region, "PROBE_SECONDS", 60.0)  # the probe outlives the run for sure
    hold = threading.Event()
    stub = service(hold=hold)
    _play(machine, AWS_NITRO)
    execution_region.start()
    assert stub.arrived.wait(10)  # the token request is held by the service
    with WaxellContext("before-the-answer", enforce_policy=False) as before:
        before.record_step("one")
    probe = execution_region._probe
    assert probe is not None and probe.is_alive()  # still waiting: the run did not
    assert before.metadata is None
    hold.set()
    assert execution_region.wait(10) == ("eu-central-1", "metadata:aws")
    with WaxellContext("after-the-answer", enforce_policy=False) as after:
        pass
    assert read_run(before.run_id)["metadata"] == {}
    assert _region_of(read_run(after.run_id)["metadata"]) == ("eu-central-1", "metadata:aws")


def test_a_service_that_never_answers_is_given_up(
    machine: Path, service: Callable[..., MetadataService]
) -> None:
    """The probe gives up by itself (PROBE_SECONDS), while the service still holds the request."""
    hold = threading.Event()
    stub = service(hold=hold)
    _play(machine, AWS_NITRO)
    execution_region.start()
    assert execution_region.wait(10) is None
    probe = execution_region._probe
    assert probe is not None and not probe.is_alive()
    assert not hold.is_set() and stub.seen == [("PUT", "/latest/api/token")]
    assert WaxellContext("agent").metadata is None


# -- data-residency -----------------------------------------------------------------------------------------


@pytest.fixture
def eu_only() -> Iterator[None]:
    embedded_decider.forget_deciders()
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies: [{name: eu-only, category: data-residency, rules: {allowed_regions: [EU]}}]"
        ),
    )
    yield
    embedded_decider.forget_deciders()


def test_a_detected_region_feeds_data_residency(
    machine: Path, monkeypatch: pytest.MonkeyPatch, eu_only: None, read_run: ReadRun
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with WaxellContext("in-europe") as allowed:
        pass
    assert read_run(allowed.run_id)["status"] == "success"
    execution_region._reset()
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(PolicyViolationError) as refused, WaxellContext("in-virginia"):
        pass
    assert refused.value.policy_result.reason == "Execution region 'us-east-1' is not allowed (allowed: EU)"


def test_init_looks_for_the_region_before_any_run(tmp_path: Path) -> None:
    program = (
        "import json, waxell_observe\n"
        "from waxell_observe import execution_region\n"
        "waxell_observe.init()\n"
        "print(json.dumps([execution_region._started, execution_region._found]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(
        WAXELL_DB=str(tmp_path / "init.db"),
        WAXELL_JOURNAL_DIR=str(tmp_path / "journal"),
        WAXELL_EXECUTION_REGION="eu-north-1",
    )
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, ["eu-north-1", "declared"]]
