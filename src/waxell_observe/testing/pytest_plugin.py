"""The pytest plugin (entry point ``pytest11``): the ``waxell_runs`` fixture and the ``waxell``
marker.

Installed with the SDK, active in every pytest session, costing nothing until a test asks for
the fixture or carries the marker (the SDK is imported only then)::

    def test_agent_answers_with_the_search_tool(waxell_runs):
        answer = my_agent("capital of France?")
        run = waxell_runs.one("my-agent").assert_succeeded()
        run.assert_tool_called("search", query="capital of France")
        run.assert_cost_at_most(0.01)

The fixture captures, in memory, every run started during the test (from any thread), and
records offline: to an embedded store private to the test session (one per pytest-xdist
worker), never to the user's store or a control plane.

The marker runs a test once per dataset item and records the session's experiments (see
:mod:`waxell_observe.testing.marker`)::

    @pytest.mark.waxell(dataset="capitals", evaluators=[exact_match()], threshold=0.9)
    def test_capitals(waxell_case):
        waxell_case.output = my_agent(waxell_case.input["question"])
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from waxell_observe.testing.marker import SessionExperiments, WaxellCase
    from waxell_observe.testing.recorded import RecordedRuns

__all__ = ["waxell_runs", "waxell_store_dir", "waxell_case"]

_MARKER = "waxell"
_CASE = "waxell_case"
_SESSION_KEY = "waxell_session_name"
_EXPERIMENT_PROPERTY = "waxell_experiment"
_experiments_key = pytest.StashKey["SessionExperiments"]()
_marked_key = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("waxell", "waxell-observe evaluations (@pytest.mark.waxell)")
    group.addoption(
        "--waxell-name",
        default="",
        metavar="NAME",
        help="Name of this session's experiments: NAME/<test> (default: pytest-<UTC time>).",
    )
    group.addoption(
        "--waxell-baseline",
        default="",
        metavar="NAME",
        help="Fail when a metric's pass rate falls below the same test's experiment in session NAME.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "waxell(dataset, evaluators=[], threshold=None, name=None, version=None, repetitions=1, "
        "tolerance=0): run the test once per dataset item (fixture waxell_case) as an experiment",
    )
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_SessionEnd(config), "waxell-experiments")


def _experiments(config: pytest.Config) -> SessionExperiments:
    experiments = config.stash.get(_experiments_key, None)
    if experiments is None:
        from waxell_observe.testing.marker import SessionExperiments, default_session_name

        workerinput = getattr(config, "workerinput", None)
        name = (
            (workerinput or {}).get(_SESSION_KEY)
            or config.getoption("--waxell-name")
            or default_session_name()
        )
        experiments = SessionExperiments(str(name), str(config.getoption("--waxell-baseline") or ""))
        config.stash[_experiments_key] = experiments
    return experiments


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker records into the controller's session name."""
    node.workerinput[_SESSION_KEY] = _experiments(node.config).session_name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(_MARKER)
    if marker is None:
        return
    if marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.waxell takes keyword arguments only"
        )
    if _CASE not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: a test marked @pytest.mark.waxell takes the {_CASE} fixture "
            f"(def {metafunc.function.__name__}({_CASE}): ...)"
        )
    from waxell_observe.testing.marker import settings_of

    experiments = _experiments(metafunc.config)
    try:
        settings = settings_of(metafunc.function.__name__, marker.kwargs, experiments.backend)
    except (ValueError, LookupError) as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    metafunc.parametrize(_CASE, settings.cases(), ids=settings.case_ids(), indirect=True)
    _marked(metafunc.config)[metafunc.definition.nodeid] = settings


def _marked(config: pytest.Config) -> dict[str, Any]:
    """The marked tests' settings by node id (without the parameters)."""
    marked = config.stash.get(_marked_key, None)
    if marked is None:
        marked = config.stash[_marked_key] = {}
    return marked


@pytest.fixture
def waxell_case(request: pytest.FixtureRequest) -> WaxellCase:
    """The dataset item a ``@pytest.mark.waxell`` test runs on; set ``waxell_case.output``."""
    param = getattr(request, "param", None)
    if param is None:
        raise pytest.UsageError("waxell_case is given to tests marked @pytest.mark.waxell(dataset=...)")
    from waxell_observe.testing.marker import WaxellCase

    case: WaxellCase = param
    return WaxellCase(case.item, case.repetition, case.position)


def _test_key(item: pytest.Function) -> str:
    return item.nodeid.split("[", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a marked test inside its item's run, then score it (the evaluators) and store the row."""
    test_key = pyfuncitem.nodeid.split("[", 1)[0]
    settings = _marked(pyfuncitem.config).get(test_key)
    if settings is None or _CASE not in pyfuncitem.funcargs:
        return None
    experiments = _experiments(pyfuncitem.config)
    recorder = experiments.recorder(test_key, settings, test_key)
    pyfuncitem.user_properties.append((_EXPERIMENT_PROPERTY, recorder.experiment_id))
    case: WaxellCase = pyfuncitem.funcargs[_CASE]  # type: ignore[assignment]
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    raised = experiments.run_case(recorder, case, lambda: pyfuncitem.obj(**arguments))
    if raised is not None:
        raise raised
    return True


class _SessionEnd:
    """Where the session ends (the controller under xdist, else the one process): notes the
    experiments tests reported, concludes them, fails the run for a failed one, prints the summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == _EXPERIMENT_PROPERTY:
                _experiments(self.config).seen[str(value)] = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        experiments = self.config.stash.get(_experiments_key, None)
        if experiments is None or not experiments.seen:
            return
        verdicts = experiments.conclude()
        failed = any(verdict.failed for verdict in verdicts) or experiments.problems
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        experiments = self.config.stash.get(_experiments_key, None)
        if experiments is None or not (experiments.verdicts or experiments.problems):
            return
        terminalreporter.write_sep("=", "waxell experiments")
        for line in experiments.summary_lines():
            bad = "[FAILED]" in line or line.lstrip().startswith(("below threshold", "regression", "problem"))
            terminalreporter.write_line(line, red=bad, bold=bad)


@pytest.fixture(scope="session")
def waxell_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of the session's private store and journal (one per xdist worker)."""
    return tmp_path_factory.mktemp("waxell-observe")


@pytest.fixture
def waxell_runs(waxell_store_dir: Path) -> Iterator[RecordedRuns]:
    """The runs recorded during this test (:class:`waxell_observe.testing.RecordedRuns`)."""
    from waxell_observe.testing.capture import capture_runs

    with capture_runs(offline=True, directory=waxell_store_dir) as runs:
        yield runs
