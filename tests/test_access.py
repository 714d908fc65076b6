"""Access on a shared server, with real servers, trainers and files: the default bind is
loopback (read from the kernel's socket table), exposure needs a sign-in, the sign-in gate
refuses wrong tokens, a visitor cannot stop someone else's run, and the operator's limits
hold (also when several launches race)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from conftest import ROOT, free_port, run_env, stop_process
from gan_core import access
from gan_core.access import AccessError, Identity, ownership
from gan_core.config import PRESETS, TrainConfig, preset_for
from gan_core.data import trashed_datasets
from gan_core.data.importer import import_dataset
from gan_core.experiments.sweep import expand
from gan_core.jobs import manager as jobs
from gan_core.runs.rundir import RunDir
from test_jobs import reap_jobs, tiny_cfg, wait_final, wait_for  # noqa: F401 - reap_jobs: autouse fixture
from ui.auth import SESSION_KEY

TOKEN, OPERATOR_TOKEN = "team-token-0123456789", "operator-token-9876543210"
ALICE, BOB = Identity("alice", "token"), Identity("bob", "token")
BOSS = Identity("boss", "token", operator=True)
PAGES = ["app.py", *(f"pages/{p.name}" for p in sorted((ROOT / "pages").glob("[0-9]*_*.py")))]
ACCESS_ENV = [k for k in os.environ if k.startswith("GAN_STUDIO_") or k.startswith("STREAMLIT_SERVER_")]


@pytest.fixture(autouse=True)
def no_operator_settings(monkeypatch):
    """Each test starts from an unconfigured studio, whatever the shell exported, and
    leaves Streamlit's error display as it found it (an exposed page turns it off)."""
    for key in ACCESS_ENV:
        monkeypatch.delenv(key, raising=False)
    shown = st_config.get_option("client.showErrorDetails")
    yield
    st_config.set_option("client.showErrorDetails", shown)


# ---- the listening socket -------------------------------------------------------------------

def listening(port: int) -> list[str]:
    """Addresses with a socket in LISTEN on ``port``, from /proc/net/tcp and tcp6 (no traffic)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if width == 8:
                    found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found


def start(cmd: list[str], tmp_path: Path, **env_extra: str) -> subprocess.Popen:
    env = run_env()
    env.update(HOME=str(tmp_path), **env_extra)  # HOME: no ~/.streamlit/secrets.toml of the tester's
    log = open(tmp_path / "server.log", "ab")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("how", ["streamlit run app.py", "make app (python -m ui.serve)"])
def test_the_app_listens_on_loopback_only_by_default(how, tmp_path):
    port = free_port()
    cmd = ([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)] if how.startswith("streamlit")
           else [sys.executable, "-m", "ui.serve", "--port", str(port)])
    proc = start(cmd, tmp_path)
    try:
        addresses = wait_for(lambda: listening(port), 60, f"a socket listening on port {port}")
        time.sleep(0.5)  # a second bind (IPv6, all interfaces) would follow the first at once
        assert sorted(set(listening(port))) == ["127.0.0.1"], addresses
    finally:
        stop_process(proc)


def test_exposing_without_a_sign_in_refuses_to_start(tmp_path):
    port = free_port()
    proc = start([sys.executable, "-m", "ui.serve", "--expose", "--port", str(port)], tmp_path)
    assert proc.wait(30) == 2
    text = (tmp_path / "server.log").read_text()
    assert "refusing to serve" in text and access.TOKEN_ENV in text
    assert listening(port) == []


def test_exposed_server_refuses_a_wrong_host_and_shows_visitors_no_tracebacks(tmp_path):
    """Served behind a proxy on this machine (--expose on 127.0.0.1): the app's WebSocket
    answers only for the allowed host name."""
    port = free_port()
    proc = start([sys.executable, "-m", "ui.serve", "--expose", "--address", "127.0.0.1", "--port", str(port)],
                 tmp_path, GAN_STUDIO_TOKEN=TOKEN, GAN_STUDIO_ALLOWED_HOSTS="studio.test")
    try:
        wait_for(lambda: listening(port), 60, "the server to listen")
        assert handshake(port, "studio.test") == 101
        assert handshake(port, "evil.test") != 101
        log = (tmp_path / "server.log").read_text()
        assert TOKEN not in log and "studio.test" in log
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--client.showErrorDetails" in cmdline and cmdline[cmdline.index(b"--client.showErrorDetails") + 1] == b"none"
    finally:
        stop_process(proc)


def handshake(port: int, host: str) -> int:
    """The HTTP status of a WebSocket upgrade to Streamlit's stream, sent with ``Host: host``."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n\r\n").encode())
                reply = s.recv(4096).decode("latin-1")
            return int(reply.split()[1])
        except (OSError, IndexError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# ---- the sign-in gate (AppTest) -------------------------------------------------------------
def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def sign_in(at: AppTest, name: str, token: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_token").input(token)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def test_exposed_pages_show_only_the_sign_in(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
        assert not at.exception, page
        assert titles(at) == ["Sign in to GAN Studio"], page
        assert not at.sidebar.caption or "Runs in" not in at.sidebar.caption[0].value
    assert st_config.get_option("client.showErrorDetails") == "none"  # even under a bare `streamlit run`


def test_a_wrong_token_is_refused_and_the_right_one_signs_in(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    at = AppTest.from_file(str(ROOT / "pages/1_Home.py"), default_timeout=60).run()
    sign_in(at, "alice", TOKEN[:-1] + "x")
    assert titles(at) == ["Sign in to GAN Studio"]
    assert any("wrong access token" in e.value for e in at.error)
    assert SESSION_KEY not in at.session_state
    sign_in(at, "alice", TOKEN)
    assert titles(at) == ["GAN Studio"]
    assert any("alice" in c.value for c in at.sidebar.caption)
    assert at.session_state[SESSION_KEY] == ALICE


def test_the_operator_token_signs_in_an_operator(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    monkeypatch.setenv("GAN_STUDIO_OPERATOR_TOKEN", OPERATOR_TOKEN)
    at = sign_in(AppTest.from_file(str(ROOT / "pages/1_Home.py"), default_timeout=60).run(), "boss", OPERATOR_TOKEN)
    assert at.session_state[SESSION_KEY] == BOSS
    assert any("operator" in c.value for c in at.sidebar.caption)


def test_exposed_without_any_sign_in_shows_nothing_but_what_to_set(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    at = AppTest.from_file(str(ROOT / "pages/4_Monitor.py"), default_timeout=60).run()
    assert titles(at) == []
    assert any("no sign-in set up" in e.value and access.TOKEN_ENV in e.value for e in at.error)


def test_loopback_without_sign_in_is_the_local_operator():
    at = AppTest.from_file(str(ROOT / "pages/1_Home.py"), default_timeout=60).run()
    assert st_config.get_option("client.showErrorDetails") == "full"  # the operator's own machine: full detail
    assert titles(at) == ["GAN Studio"]
    assert any("Runs in" in c.value for c in at.sidebar.caption)  # the operator sees server paths


def test_openid_connect_user_is_identified_and_logged_out_sees_the_provider_button(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_OPERATORS", "Boss@Example.com")
    auth = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "studio",
            "client_secret": "s", "server_metadata_url": "http://localhost:9/.well-known/openid-configuration"}
    at = AppTest.from_file(str(ROOT / "pages/1_Home.py"), default_timeout=60)
    at.secrets["auth"] = auth
    at.user = {"is_logged_in": False}
    at.run()
    assert titles(at) == ["Sign in to GAN Studio"]
    assert [b.label for b in at.button] == ["Sign in with your organisation's account"]
    for email, operator in (("carol@example.com", False), ("boss@example.com", True)):
        at = AppTest.from_file(str(ROOT / "pages/1_Home.py"), default_timeout=60)
        at.secrets["auth"] = auth
        at.user = {"is_logged_in": True, "email": email, "sub": "123"}
        at.run()
        assert titles(at) == ["GAN Studio"]
        assert any(email in c.value and (("operator" in c.value) == operator) for c in at.sidebar.caption)
    unverified = access.oidc_identity("boss@example.com", "u1", {"GAN_STUDIO_OPERATORS": "boss@example.com"},
                                      email_verified=False)
    assert unverified == Identity("oidc:u1", "oidc", operator=False)


# ---- ownership with real runs ----------------------------------------------------------------
def test_a_visitor_cannot_stop_anothers_run(monkeypatch):
    run = ownership.launch_as(ALICE, tiny_cfg(minutes=5), "alices")
    assert run.read_status()["created_by"] == "alice"
    wait_for(lambda: run.read_status().get("pid_start"), 90, "alice's trainer to start")
    with pytest.raises(AccessError, match="created by alice"):
        ownership.stop_as(BOB, "alices")
    with pytest.raises(AccessError):
        ownership.cancel_as(BOB, "alices")
    assert jobs.run_state(run) == "running" and not run.stop_path.exists()

    # Monitor, as Bob: the buttons are off and say why; as Alice they are on
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    for who, disabled in ((BOB, True), (ALICE, False)):
        at = AppTest.from_file(str(ROOT / "pages/4_Monitor.py"), default_timeout=60)
        at.session_state[SESSION_KEY] = who
        at.run()
        stop_button = next(b for b in at.button if b.label == "Stop")
        assert stop_button.disabled == disabled
        assert ("Not yours" in (stop_button.help or "")) == disabled
        resume_button = next(b for b in at.button if b.label == "Resume")  # the state says no to everyone
        assert resume_button.disabled
        assert ("The run is running" in resume_button.help) == (not disabled)  # the tooltip gives the real reason
        assert ("Not yours" in resume_button.help) == disabled

    assert ownership.stop_as(BOSS, "alices", wait=True, timeout=60) == "stopped"  # an operator may act on all
    with pytest.raises(AccessError, match="cannot resume"):
        ownership.resume_as(BOB, "alices")
    assert jobs.run_state(run) == "stopped"


def test_the_per_person_run_limit_holds_even_when_launches_race(monkeypatch):
    monkeypatch.setenv("GAN_MAX_JOBS", "1")  # one trains, the rest wait in the queue
    monkeypatch.setenv("GAN_STUDIO_MAX_RUNS_PER_PERSON", "2")
    results: list[object] = []

    def try_launch(i: int) -> None:
        try:
            results.append(ownership.launch_as(ALICE, tiny_cfg(minutes=5), f"alice-{i}").name)
        except AccessError as exc:
            results.append(exc)

    threads = [threading.Thread(target=try_launch, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    launched = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, AccessError)]
    assert len(launched) == 2 and len(refused) == 2, results
    assert "GAN_STUDIO_MAX_RUNS_PER_PERSON" in str(refused[0]) and "allows 2 per person" in str(refused[0])
    assert sorted(ownership.active_runs(ALICE)) == sorted(launched)
    assert jobs.status(launched[0])["created_by"] == "alice"
    assert ownership.launch_as(BOB, tiny_cfg(), "bobs").read_status()["state"] == "queued"  # Bob has his own slots
    ownership.launch_as(BOSS, tiny_cfg(), "boss-1")
    ownership.launch_as(BOSS, tiny_cfg(), "boss-2")
    ownership.launch_as(BOSS, tiny_cfg(), "boss-3")  # operators have no limit

    # A slot frees when one of Alice's runs ends
    assert ownership.cancel_as(ALICE, next(n for n in launched if jobs.status(n)["state"] == "queued")) == "cancelled"
    assert ownership.launch_as(ALICE, tiny_cfg(), "alice-again").name == "alice-again"


def test_a_sweep_counts_every_run_against_the_limit_and_is_refused_whole(monkeypatch, studio_dirs):
    monkeypatch.setenv("GAN_MAX_JOBS", "1")
    monkeypatch.setenv("GAN_STUDIO_MAX_RUNS_PER_PERSON", "2")
    base = tiny_cfg(steps=10).to_dict()
    with pytest.raises(AccessError, match="3 more would make 3 and this studio allows 2 per person"):
        ownership.queue_sweep_as(ALICE, expand(base, [("lr_d", ["1e-4", "2e-4", "4e-4"])], 1, "big"))
    with pytest.raises(AccessError, match="GAN_STUDIO_MAX_WIDTH"):
        ownership.queue_sweep_as(ALICE, expand({**base, "width": 256}, [("lr_d", ["1e-4"])], 1, "wide"))
    assert list(studio_dirs[0].glob("*")) in ([], [studio_dirs[0] / ownership.LOCK_NAME])  # nothing queued
    runs = ownership.queue_sweep_as(ALICE, expand(base, [("lr_d", ["1e-4", "2e-4"])], 1, "small"))
    assert [r.read_status()["created_by"] for r in runs] == ["alice", "alice"]


def test_limits_name_the_rule_and_the_setting(monkeypatch):
    with pytest.raises(AccessError, match="GAN_STUDIO_MAX_WIDTH"):
        access.check_limits(ALICE, tiny_cfg(width=256))
    with pytest.raises(AccessError, match="over this studio's limit of 120 minutes"):
        access.check_limits(ALICE, tiny_cfg(minutes=600))
    with pytest.raises(AccessError, match="GAN_STUDIO_MAX_STEPS"):
        access.check_limits(ALICE, tiny_cfg(steps=1_000_000))
    with pytest.raises(AccessError, match="GAN_STUDIO_MAX_BATCH"):
        access.check_limits(ALICE, tiny_cfg(batch_size=512))
    access.check_limits(BOSS, tiny_cfg(width=256, minutes=600))  # not for operators
    for preset in PRESETS:  # every recipe the studio offers (Quick start's too) fits the default limits
        access.check_limits(ALICE, TrainConfig.from_dict(preset_for(preset)))
    monkeypatch.setenv("GAN_STUDIO_MAX_WIDTH", "none")
    monkeypatch.setenv("GAN_STUDIO_MAX_RESOLUTION", "16")
    access.check_limits(ALICE, tiny_cfg(width=256))
    with pytest.raises(AccessError, match="GAN_STUDIO_MAX_RESOLUTION"):
        access.check_limits(ALICE, tiny_cfg(resolution=32))
    assert not list(Path(os.environ["GAN_CHECKPOINTS"]).glob("*"))  # refusals made no run folder
    with pytest.raises(AccessError):
        ownership.launch_as(ALICE, tiny_cfg(resolution=32), "too-big")
    assert not (Path(os.environ["GAN_CHECKPOINTS"]) / "too-big").exists()
    monkeypatch.setenv("GAN_STUDIO_MAX_STEPS", "lots")
    assert "GAN_STUDIO_MAX_STEPS" in access.settings_problem()


def test_train_page_shows_a_visitor_the_limit_and_does_not_launch(monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = ALICE
    at.run()
    at.number_input(key="f_width").set_value(256).run()
    assert any("GAN_STUDIO_MAX_WIDTH" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Launch training").disabled
    at.session_state[SESSION_KEY] = BOSS
    at.run()
    assert not any("GAN_STUDIO_MAX_WIDTH" in e.value for e in at.error)


def test_data_sets_are_deleted_only_by_their_creator(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    src = tmp_path / "pictures"
    src.mkdir()
    for i in range(3):
        Image.new("RGB", (12, 12), (40 * i, 90, 200)).save(src / f"{i}.png")
    import_dataset(src, "alices-set")
    ownership.record_dataset_owner("alices-set", ALICE)
    assert ownership.dataset_owner("alices-set") == "alice"
    with pytest.raises(AccessError, match="created by alice"):
        ownership.delete_dataset_as(BOB, "alices-set")
    folder = Path(os.environ["GAN_DATA"]) / "alices-set"
    assert len(list(folder.glob("*.png"))) == 3
    for who, disabled in ((BOB, True), (ALICE, False), (BOSS, False)):  # the Data page: Bob's delete is off, and says why
        at = AppTest.from_file(str(ROOT / "pages/2_Data.py"), default_timeout=60)
        at.session_state[SESSION_KEY] = who
        at.session_state["data_pick"] = "alices-set"  # not the default set: no Fashion-MNIST preview to load
        at.run()
        popover = at.get("popover")[0].proto.popover
        assert popover.disabled == disabled and ("created by alice" in popover.help) == disabled
        # the server's folders are an operator's business: a visitor reads them in words
        page_text = " ".join(e.value for e in [*at.caption, *at.markdown])
        assert (os.environ["GAN_DATA"] in page_text) == who.operator, who
    ownership.delete_dataset_as(ALICE, "alices-set")
    assert not folder.exists()

    # the trash keeps its creator: only Alice (or an operator) brings it back
    (entry,) = trashed_datasets()
    with pytest.raises(AccessError, match="cannot restore"):
        ownership.restore_dataset_as(BOB, "alices-set", entry.path)
    ownership.restore_dataset_as(ALICE, "alices-set", entry.path)
    assert len(list(folder.glob("*.png"))) == 3

    # replacing a set on import keeps the old one in the trash too
    import_dataset(src, "alices-set", overwrite=True)
    (kept,) = trashed_datasets()
    assert kept.name == "alices-set" and len(list(kept.path.glob("*.png"))) == 3


def test_runs_without_a_recorded_creator_belong_to_operators_only():
    run = RunDir.create("legacy", tiny_cfg())
    assert ownership.run_owner(run) is None
    assert "no recorded creator" in access.refusal(ALICE, None)
    assert access.refusal(access.local_identity(), None) is None and access.refusal(access.cli_identity(), None) is None


# ---- tokens ---------------------------------------------------------------------------------
def test_tokens_plain_and_hashed_and_names_that_cannot_pose_as_others():
    env = {"GAN_STUDIO_TOKEN_HASH": access.hash_token(TOKEN)}
    assert access.token_identity("alice", TOKEN, env) == ALICE
    for wrong in ("", TOKEN + " ", TOKEN.upper(), "x"):
        with pytest.raises(AccessError, match="wrong access token"):
            access.token_identity("alice", wrong, env)
    assert access.token_identity("alice", TOKEN, {"GAN_STUDIO_TOKEN": TOKEN}) == ALICE
    for name in ("boss@example.com", "cli:root", "local", "", "a" * 41, "../x"):
        with pytest.raises(AccessError, match="your name"):
            access.token_identity(name, TOKEN, env)
    assert "shorter than 12" in access.settings_problem({"GAN_STUDIO_TOKEN": "short"})
    assert access.settings_problem({"GAN_STUDIO_TOKEN": TOKEN, "GAN_STUDIO_OPERATOR_TOKEN": TOKEN})
    assert access.settings_problem({"GAN_STUDIO_TOKEN_HASH": "not-a-hash"})
    assert access.settings_problem(env) is None


def test_hash_command_prints_a_hash_that_verifies(python_exe):
    out = subprocess.run([python_exe, "-m", "gan_core.access", "hash"], input=TOKEN + "\n", capture_output=True,
                         text=True, env=run_env(), cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert TOKEN not in out.stdout
    assert access.token_matches(TOKEN, out.stdout.strip()) and not access.token_matches("other-token-123", out.stdout.strip())


def test_only_an_operator_launches_or_stops_an_augmentation_lab(monkeypatch, tmp_path):
    """A lab trains a GAN per K outside the per-person limits: a visitor is refused in the
    engine call (no lab folder appears) and sees the buttons off with the reason."""
    from gan_core.auglab.lab import LabSpec

    spec = LabSpec(name="bobs-lab", data="shapes", per_class=[3], seeds=1, synthetic_per_class=[3], resolution=16,
                   channels=3, gan_steps=2, gan_minutes=None)
    with pytest.raises(AccessError, match="only an operator"):
        ownership.launch_lab_as(BOB, spec)
    with pytest.raises(AccessError, match="only an operator"):
        ownership.stop_lab_as(BOB, "bobs-lab")
    assert not (Path(os.environ["GAN_CHECKPOINTS"]) / "bobs-lab").exists()
    assert ownership.lab_refusal(BOSS) is None

    monkeypatch.setenv("GAN_STUDIO_EXPOSE", "1")
    monkeypatch.setenv("GAN_STUDIO_TOKEN", TOKEN)
    for who, disabled in ((BOB, True), (BOSS, False)):
        at = AppTest.from_file(str(ROOT / "pages/9_Augment.py"), default_timeout=60)
        at.session_state[SESSION_KEY] = who
        at.run()
        assert not at.exception
        launch = next(b for b in at.button if b.label == "Launch lab")
        assert launch.disabled == disabled
        assert ("only an operator" in (launch.help or "")) == disabled
        assert any("only an operator" in c.value for c in at.caption) == disabled  # said, not only on hover
