"""``nixremote vm``: run the local test VM (a Debian rescue system under QEMU) to install onto.

``up`` builds the VM artifacts when the cache lacks them (needs root the first time), boots the
VM in the background with a fresh, pinned host key and prints how to reach it; ``ssh`` opens a
shell with strict host key checking; ``status`` and ``down`` report and stop it. The running
VM's files live in ``<cache>/run`` (or ``--run-dir``): ``state.json``, ``qemu.pid``, the keys,
``console.log`` and the disk ``disk.raw`` (kept across ``down``/``up`` unless ``--fresh`` or
``down --wipe``).

``up --network hoster`` boots it on a hoster-like network instead of QEMU's user-mode network
(:mod:`.hoster`: Hetzner's addressing, every address static, QEMU inside a network namespace
that ``down`` removes); ``--network hoster-ipv6`` makes it an IPv6-only server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import click

from nixremote.cli.output import emit_result, json_option
from nixremote.core.errors import InvalidInputError, NixremoteError

from .builder import build, default_cache_dir
from .hoster import HosterNetwork, Router
from .machine import DEFAULT_DISK_SIZE, RescueVm
from .process import pid_alive

NETWORKS = ("user", "hoster", "hoster-ipv6")


def network_of(name: str) -> HosterNetwork | None:
    """The network of ``vm up --network NAME`` (``None``: QEMU's user-mode network)."""
    if name == "hoster":
        return HosterNetwork()
    if name == "hoster-ipv6":
        return HosterNetwork(ipv4=None)
    return None


_SIZE = re.compile(r"^(\d+)([KMGT]?)i?B?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``8G``, ``512M``, ``1073741824`` -> bytes (binary units)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise InvalidInputError(f"not a size: {text!r}", hint="use e.g. 8G or 512M")
    power = " KMGT".index((m.group(2) or " ").upper())
    return int(m.group(1)) * (1 << (10 * power))


def _run_dir(ctx: click.Context) -> Path:
    obj = ctx.find_object(dict) or {}
    if obj.get("vm_run_dir"):
        return Path(obj["vm_run_dir"]).expanduser()
    return (_cache(ctx) or default_cache_dir()).expanduser() / "run"


def _load_state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "state.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _alive(pid: object) -> bool:
    return isinstance(pid, int) and pid_alive(pid)


def _running_state(run_dir: Path) -> dict[str, Any]:
    state = _load_state(run_dir)
    if state is None or not _alive(state.get("pid")):
        raise NixremoteError("no test VM is running", hint="start one with: nixremote vm up")
    return state


def _attached(state: dict[str, Any]) -> RescueVm:
    vm = RescueVm(workdir=Path(state["workdir"]), ssh_port=int(state["port"]), detach=True)
    vm.host = str(state["host"])
    return vm


def _destroy_network(state: dict[str, Any]) -> str | None:
    """Remove the hoster network of a VM from its state; returns the namespace's name."""
    net = state.get("network") or {}
    if net.get("mode") != "hoster" or not net.get("netns"):
        return None
    Router(HosterNetwork(), ns=str(net["netns"]), veth=str(net.get("veth") or "")).destroy()
    return str(net["netns"])


def _print_access(state: dict[str, Any]) -> None:
    port = state["port"]
    net = state.get("network") or {"mode": "user"}
    click.echo(f"host:        {state['host']}")
    click.echo(f"port:        {port}")
    if net.get("mode") == "hoster":
        click.echo(
            f"network:     hoster ({', '.join(net['addresses'])}; namespace {net.get('netns')})"
        )
    click.echo(f"identity:    {state['identityFile']}")
    click.echo(f"known_hosts: {state['knownHostsFile']}")
    click.echo(f"             {state['knownHostsLine']}")
    click.echo(f"disk:        {state['diskById']} ({state['disk']})")
    click.echo(f"console:     {state['consoleLog']}")
    click.echo("")
    click.echo("try:")
    click.echo("  nixremote vm ssh")
    port_arg = "" if port == 22 else f" -p {port}"
    click.echo(
        f"  nixremote install root@{state['host']}{port_arg} -i {state['identityFile']} "
        f"--known-hosts {state['knownHostsFile']} --disk {state['diskById']} "
        f"--bundle {state['artifacts']}/installer"
    )


@click.group("vm")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="VM cache directory (default $NIXREMOTE_VM_CACHE or ~/.cache/nixremote/vm).",
)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the running VM's files live (default <cache-dir>/run).",
)
@click.pass_context
def vm_group(ctx: click.Context, cache_dir: Path | None, run_dir: Path | None) -> None:
    """Run a local test VM (a Debian rescue system under QEMU) to install onto."""
    ctx.ensure_object(dict)
    ctx.obj["vm_cache_dir"] = cache_dir
    ctx.obj["vm_run_dir"] = run_dir


def _cache(ctx: click.Context) -> Path | None:
    value = ctx.find_object(dict) or {}
    cache = value.get("vm_cache_dir")
    return Path(cache) if cache else None


@vm_group.command("up")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Loopback port for SSH (default: free).",
)
@click.option("--memory", type=int, default=2048, show_default=True, help="Memory in MiB.")
@click.option("--cpus", type=int, default=2, show_default=True)
@click.option("--disk-size", default="8G", show_default=True, help="Size of a new disk.")
@click.option("--uefi", is_flag=True, help="Boot with OVMF (UEFI) instead of BIOS.")
@click.option("--fresh", is_flag=True, help="Start with a new, empty disk.")
@click.option(
    "--network",
    type=click.Choice(NETWORKS),
    default="user",
    show_default=True,
    help="QEMU's user-mode network (DHCP, SSH on a loopback port), or a hoster's: Hetzner's "
    "addressing, static, in a network namespace (hoster-ipv6: IPv6 only); needs root.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the VM's SSH.",
)
@json_option
@click.pass_context
def up_cmd(
    ctx: click.Context,
    port: int | None,
    memory: int,
    cpus: int,
    disk_size: str,
    uefi: bool,
    fresh: bool,
    network: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Build the VM if needed and boot it in the background."""
    from nixremote.cli.output import progress_reporter

    cache = _cache(ctx)
    run_dir = _run_dir(ctx)
    state = _load_state(run_dir)
    if state is not None and _alive(state.get("pid")):
        raise NixremoteError(
            f"a test VM is already running (pid {state['pid']})",
            hint="nixremote vm status, or nixremote vm down",
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    disk = run_dir / "disk.raw"
    if fresh and disk.exists():
        disk.unlink()
    size = parse_size(disk_size) if disk_size else DEFAULT_DISK_SIZE
    with progress_reporter(json_lines=as_json) as reporter:
        artifacts = build(cache, reporter)
        vm = RescueVm(
            artifacts,
            workdir=run_dir,
            disk=disk,
            disk_size=size,
            memory_mib=memory,
            cpus=cpus,
            uefi=uefi,
            ssh_port=port,
            boot_timeout=timeout,
            reporter=reporter,
            detach=True,
            network=network_of(network),
        )
        try:
            vm.start()
        except BaseException:
            vm.stop()
            if vm.router is not None:
                vm.router.destroy()
            raise
        if vm.router is not None:
            vm.router.release_lock()  # the VM runs on; down removes the network
    vm.write_state(run_dir / "state.json")
    state = _load_state(run_dir)
    assert state is not None
    if as_json:
        emit_result(f"test VM up (pid {state['pid']})", state)
    else:
        click.echo(f"test VM up in {vm.boot_seconds or 0:.0f}s (pid {state['pid']})")
        _print_access(state)


@vm_group.command("status")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show whether the VM runs and how to reach it (exit 1 when it does not run)."""
    run_dir = _run_dir(ctx)
    state = _load_state(run_dir)
    running = state is not None and _alive(state.get("pid"))
    if as_json:
        emit_result("running" if running else "not running", {"running": running, **(state or {})})
    elif running and state is not None:
        click.echo(f"running (pid {state['pid']})")
        _print_access(state)
    else:
        click.echo("not running")
    if not running:
        raise SystemExit(1)


@vm_group.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ssh_cmd(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Open SSH to the VM as root (host key pinned); COMMAND runs instead of a shell."""
    state = _running_state(_run_dir(ctx))
    vm = _attached(state)
    argv = vm.ssh_argv()
    if command:
        argv += ["--", *command]
    if shutil.which("ssh") is None:
        raise NixremoteError("ssh not found", hint="apt-get install openssh-client")
    os.execvp("ssh", argv)


@vm_group.command("down")
@click.option("--wipe", is_flag=True, help="Also delete the disk and the run directory.")
@json_option
@click.pass_context
def down_cmd(ctx: click.Context, wipe: bool, as_json: bool) -> None:
    """Stop the VM."""
    run_dir = _run_dir(ctx)
    state = _load_state(run_dir)
    stopped = None
    if state is not None and _alive(state.get("pid")):
        vm = _attached(state)
        vm.stop()
        stopped = state["pid"]
    netns = _destroy_network(state) if state is not None else None
    (run_dir / "state.json").unlink(missing_ok=True)
    removed = wipe and run_dir.exists()
    if removed:
        shutil.rmtree(run_dir)
    if as_json:
        emit_result(
            f"stopped (pid {stopped})" if stopped is not None else "not running",
            {
                "stoppedPid": stopped,
                "removed": str(run_dir) if removed else None,
                "removedNetns": netns,
            },
        )
        return
    click.echo(f"stopped (pid {stopped})" if stopped is not None else "not running")
    if netns:
        click.echo(f"removed the hoster network (namespace {netns})")
    if removed:
        click.echo(f"removed {run_dir}")
