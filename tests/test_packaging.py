"""
Tests for what the package promises as a package: version, names, wheel.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

import polybot_loghandler
from polybot_loghandler import control, exceptions, testing

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "polybot_loghandler"

PUBLIC_NAMES = [
    "Config",
    "ConfigError",
    "DiscordHandler",
    "DiscordProcessor",
    "PolybotError",
    "control",
    "exceptions",
    "load_config",
    "testing",
]


def _pyproject() -> dict[str, object]:
    """
    Return pyproject.toml, parsed.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli")
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _defined_here(value: object) -> bool:
    """
    Tell whether *value* belongs to this package (not typing, not future).
    """
    if isinstance(value, types.ModuleType):
        return value.__name__.startswith("polybot_loghandler.")
    module = inspect.getmodule(value)
    return module is not None and module.__name__.startswith(
        "polybot_loghandler"
    )


def _public(module: types.ModuleType) -> set[str]:
    """
    Return the names *module* exposes that belong to this package.
    """
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and _defined_here(value)
    }


class TestVersion:
    """
    __version__ is the version pyproject.toml declares.
    """

    def test_matches_pyproject(self) -> None:
        """The installed version is the one in pyproject.toml."""
        project = _pyproject()["project"]
        assert isinstance(project, dict)

        assert project["version"] == polybot_loghandler.__version__

    def test_unknown_attribute_still_raises(self) -> None:
        """The lazy __version__ hook leaves other names to AttributeError."""
        with pytest.raises(AttributeError, match="no_such_name"):
            _ = polybot_loghandler.no_such_name  # type: ignore[attr-defined]


class TestPublicNames:
    """
    __all__ is pinned: sorted, and exactly the public API.
    """

    def test_all_is_pinned(self) -> None:
        """The top-level names are exactly the documented public API."""
        assert PUBLIC_NAMES == polybot_loghandler.__all__

    @pytest.mark.parametrize(
        "module",
        [
            pytest.param(polybot_loghandler, id="package"),
            pytest.param(exceptions, id="exceptions"),
            pytest.param(testing, id="testing"),
        ],
    )
    def test_all_is_sorted(self, module: types.ModuleType) -> None:
        """__all__ is kept in sorted order."""
        assert sorted(module.__all__) == module.__all__

    def test_all_is_exactly_the_public_names(self) -> None:
        """Every public name of the package is listed, and only those."""
        assert _public(polybot_loghandler) == set(polybot_loghandler.__all__)

    @pytest.mark.parametrize(
        ("module", "expected"),
        [
            pytest.param(
                exceptions, ["ConfigError", "PolybotError"], id="exceptions"
            ),
            pytest.param(
                testing,
                ["Captured", "RoutedMessage", "capture"],
                id="testing",
            ),
            pytest.param(
                control,
                ["DEFAULT_STREAM", "Ack", "Command", "Listener", "listen"],
                id="control",
            ),
        ],
    )
    def test_submodule_all_is_pinned(
        self, module: types.ModuleType, expected: list[str]
    ) -> None:
        """The public submodules export exactly these names."""
        assert expected == module.__all__

    def test_star_import(self) -> None:
        """``from polybot_loghandler import *`` gives the public names."""
        namespace: dict[str, object] = {}
        exec("from polybot_loghandler import *", namespace)

        assert set(PUBLIC_NAMES) == set(namespace) - {"__builtins__"}

    def test_config_error_is_a_polybot_error(self) -> None:
        """One base class catches every error the library raises."""
        assert issubclass(
            polybot_loghandler.ConfigError, polybot_loghandler.PolybotError
        )


class TestTyped:
    """
    The package ships its type information.
    """

    def test_py_typed_is_present(self) -> None:
        """py.typed marks the package as typed (PEP 561)."""
        assert (PACKAGE / "py.typed").is_file()

    def test_typed_classifier(self) -> None:
        """pyproject.toml says so too."""
        project = _pyproject()["project"]
        assert isinstance(project, dict)

        assert "Typing :: Typed" in project["classifiers"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the repository with hatchling."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed (it is in the dev extra)")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", out],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    (built,) = out.glob("polybot_loghandler-*.whl")
    return built


class TestWheel:
    """
    The wheel carries the package, its marker and the shipped files.
    """

    def test_shipped_routing_is_the_repository_routing(
        self, wheel: Path
    ) -> None:
        """_shipped/routing.yaml is byte for byte the repo's routing.yaml."""
        with zipfile.ZipFile(wheel) as archive:
            shipped = archive.read("polybot_loghandler/_shipped/routing.yaml")

        assert (REPO / "routing.yaml").read_bytes() == shipped

    def test_shipped_demo_is_included(self, wheel: Path) -> None:
        """_shipped/trading_floor.py, the demo, is in the wheel."""
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            demo = archive.read("polybot_loghandler/_shipped/trading_floor.py")

        assert "polybot_loghandler/_shipped/trading_floor.py" in names
        compile(demo, "trading_floor.py", "exec")  # it is valid Python

    def test_py_typed_is_included(self, wheel: Path) -> None:
        """py.typed travels with the package."""
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()

        assert "polybot_loghandler/py.typed" in names

    def test_the_preview_s_style_is_included(self, wheel: Path) -> None:
        """discord.css, read when an HTML page is written, is in it."""
        with zipfile.ZipFile(wheel) as archive:
            style = archive.read("polybot_loghandler/_html/discord.css")

        assert style == (PACKAGE / "_html" / "discord.css").read_bytes()

    def test_every_module_is_included(self, wheel: Path) -> None:
        """Every module of the source tree, sub-packages too, is in it."""
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
        modules = {
            path.relative_to(REPO).as_posix() for path in PACKAGE.rglob("*.py")
        }

        assert "polybot_loghandler/_cli/__main__.py" in modules
        assert "polybot_loghandler/_spool/__init__.py" in modules
        assert set() == modules - names

    def test_only_the_package_is_included(self, wheel: Path) -> None:
        """Tests, docs and examples stay out of the wheel."""
        with zipfile.ZipFile(wheel) as archive:
            tops = {name.split("/")[0] for name in archive.namelist()}

        version = polybot_loghandler.__version__
        expected = {
            "polybot_loghandler",
            f"polybot_loghandler-{version}.dist-info",
        }
        assert expected == tops

    @pytest.mark.slow
    def test_installed_wheel_finds_its_shipped_routing(
        self, wheel: Path, tmp_path: Path
    ) -> None:
        """Unpacked, the default handler loads _shipped/routing.yaml."""
        site = _unpack(wheel, tmp_path / "site")
        script = (
            "import polybot_loghandler as p\n"
            "h = p.DiscordHandler()\n"
            "print(p.__file__)\n"
            "print(h.config.path)\n"
        )

        result = _run_from(site, tmp_path, "-c", script)

        assert 0 == result.returncode, result.stderr
        module_file, routing = result.stdout.splitlines()
        package = site / "polybot_loghandler"
        assert str(package / "__init__.py") == module_file
        assert str(package / "_shipped" / "routing.yaml") == routing

    @pytest.mark.slow
    def test_installed_wheel_runs_the_command(
        self, wheel: Path, tmp_path: Path
    ) -> None:
        """Unpacked, ``python -m polybot_loghandler._cli`` runs its demo."""
        site = _unpack(wheel, tmp_path / "site")
        script = (
            "from polybot_loghandler._cli.command import demo_script\n"
            "print(demo_script())\n"
        )

        found = _run_from(site, tmp_path, "-c", script)
        demo = _run_from(
            site, tmp_path, "-m", "polybot_loghandler._cli", "demo", "-h"
        )

        assert 0 == found.returncode, found.stderr
        shipped = site / "polybot_loghandler" / "_shipped"
        assert str(shipped / "trading_floor.py") == found.stdout.strip()
        assert 0 == demo.returncode, demo.stderr
        assert demo.stdout.startswith("usage: polybot-loghandler demo")


def _unpack(wheel: Path, site: Path) -> Path:
    """
    Unpack *wheel* into *site*, as an installer would; return *site*.
    """
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _run_from(
    site: Path, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """
    Run Python with *args* on the package in *site*, in an empty directory.

    No routing file or Discord destination comes from the environment.
    """
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "POLYBOT_ROUTING" and not k.startswith("DISCORD_")
    }
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, *args],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
