"""A throw-away Samba 4 AD DC for tests, benchmarks and `idconsole demo`.

Samba's LDAP ports are fixed (389/636, no smb.conf option moves them), so each DC gets its own
loopback address (127.0.0.N, all of 127/8 is local on Linux) and listens there only, with just the
`ldap` service and a TLS certificate (issued for that address by a throw-away CA) that clients can
verify with `ca_file`. `samba -i` exits when its stdin closes, so a crashed parent leaves no DC behind.
"""
from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from console.errors import NotConfigured, Unreachable

LDAP_PORTS = (389, 636, 3268, 3269)


def samba_missing() -> str | None:
    """Why a DC cannot be started here, or None when `samba` and `samba-tool` are installed."""
    missing = [tool for tool in ("samba", "samba-tool") if not shutil.which(tool, path=_sbin_path())]
    if missing:
        return f"{' and '.join(missing)} not installed (run scripts/ensure-system-packages.sh)"
    if os.geteuid() != 0:
        return "a Samba AD DC must run as root (it binds ports 389/636)"
    return None


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _address_free(host: str) -> bool:
    for port in LDAP_PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return False
    return True


def free_loopback_address() -> str:
    """A 127.0.0.N address whose LDAP ports nobody listens on (another DC, an slapd, ...)."""
    candidates = list(range(20, 250))
    random.shuffle(candidates)
    for n in candidates:
        host = f"127.0.0.{n}"
        if _address_free(host):
            return host
    raise Unreachable("no free loopback address for a Samba DC", hint="stop other LDAP servers on 127.0.0.0/8")


def write_tls_files(tls_dir: Path, host: str, dns_name: str) -> None:
    """A CA and a server certificate for `host` (IP SAN) and `dns_name`, so clients can verify TLS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"idconsole sandbox CA {host}")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                    x509.DNSName(dns_name), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls_dir.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (tls_dir / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tls_dir / "cert.pem").write_bytes(cert.public_bytes(pem))
    key_path = tls_dir / "key.pem"
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)  # samba refuses a key file others can read


@dataclass
class SambaDC:
    """One provisioned domain in `root`; `start()`/`stop()` the DC, or use it as a context manager."""

    root: Path
    realm: str = "IDC.TEST"
    domain: str = "IDC"
    host: str = ""
    admin_password: str = field(default_factory=lambda: "Adm1n-" + secrets.token_urlsafe(12))
    process_model: str = "single"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    provision_seconds: float = 0.0
    remove_on_stop: bool = False  # delete `root` in stop() (throw-away DCs from start_dc())

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.realm.lower().split("."))

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:636"

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.host}:389"

    @property
    def ca_file(self) -> Path:
        return self.root / "tls" / "ca.pem"

    @property
    def admin_user(self) -> str:
        return f"Administrator@{self.realm.lower()}"

    @property
    def smb_conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    def settings(self, **overrides: object) -> dict[str, object]:
        """Settings of an `ad` application bound to this DC as Administrator (OUs are the caller's)."""
        values: dict[str, object] = {
            "url": self.ldaps_url, "bind_user": self.admin_user, "base_dn": self.base_dn,
            "ca_file": str(self.ca_file), "upn_suffix": self.realm.lower(), "mail_domain": self.realm.lower(),
        }
        values.update(overrides)
        return values

    def provision(self) -> None:
        """`samba-tool domain provision` into `root` (a few seconds); the smb.conf binds `host` only."""
        reason = samba_missing()
        if reason:
            raise NotConfigured(f"cannot provision a Samba AD DC: {reason}")
        self.host = self.host or free_loopback_address()
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "log", "etc"):
            (self.root / sub).mkdir(exist_ok=True)
        write_tls_files(self.root / "tls", self.host, f"dc1.{self.realm.lower()}")
        base_conf = self.root / "base.conf"
        base_conf.write_text("[global]\n")  # keep the host's /etc/samba/smb.conf out of the provisioned config
        options = {
            "interfaces": f"{self.host}/8", "bind interfaces only": "yes", "server services": "ldap",
            "log file": str(self.root / "log" / "log.%m"), "pid directory": str(self.root / "run"),
            "winbindd socket directory": str(self.root / "run" / "winbindd"),
            "ntp signd socket directory": str(self.root / "run" / "ntp_signd"),
            "tls cafile": str(self.root / "tls" / "ca.pem"), "tls certfile": str(self.root / "tls" / "cert.pem"),
            "tls keyfile": str(self.root / "tls" / "key.pem"),
        }
        command = ["samba-tool", "domain", "provision", "-s", str(base_conf), f"--realm={self.realm}",
                   f"--domain={self.domain}", "--server-role=dc", "--use-rfc2307", "--dns-backend=NONE",
                   "--host-name=dc1", f"--adminpass={self.admin_password}", f"--targetdir={self.root}"]
        command += [f"--option={name}={value}" for name, value in options.items()]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=self._env(), check=False)
        self.provision_seconds = time.monotonic() - started
        (self.root / "log" / "provision.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise NotConfigured("samba-tool domain provision failed",
                                detail=" | ".join(tail).replace(self.admin_password, "•••"))

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PATH": _sbin_path()}

    def start(self, timeout: float = 60.0) -> None:
        """Run `samba -i` in the foreground (own session) and wait until LDAPS accepts connections."""
        if not self.smb_conf.exists():
            self.provision()
        log = open(self.root / "log" / "samba.out", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            ["samba", "-i", "-M", self.process_model, "-s", str(self.smb_conf)],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unreachable("the Samba AD DC exited at start", detail=self.log_tail(),
                                  hint=f"see {self.root / 'log' / 'samba.out'}")
            try:
                with socket.create_connection((self.host, 636), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise Unreachable(f"the Samba AD DC did not listen on {self.host}:636 within {timeout:.0f} s",
                          detail=self.log_tail())

    def log_tail(self, lines: int = 8) -> str:
        path = self.root / "log" / "samba.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the DC (EOF on stdin, then SIGTERM, then SIGKILL to its own process group)."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            self._terminate(proc)
        if self.remove_on_stop:
            shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes]) -> None:
        for step in (None, signal.SIGTERM, signal.SIGKILL):
            try:
                if step is None:
                    if proc.stdin:
                        proc.stdin.close()  # `samba -i` exits on EOF
                else:
                    os.killpg(proc.pid, step)
                proc.wait(timeout=10)
                return
            except (subprocess.TimeoutExpired, ProcessLookupError):
                continue

    def create_ous(self, *ous: str) -> list[str]:
        """Create OUs (e.g. "OU=Staff", relative to the base DN) as Administrator; their full DNs."""
        import ssl

        from ldap3 import NONE, Connection, Server, Tls
        from ldap3.core.exceptions import LDAPEntryAlreadyExistsResult

        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        conn = Connection(Server(self.host, port=636, use_ssl=True, tls=tls, get_info=NONE), user=self.admin_user,
                          password=self.admin_password, auto_bind=True, raise_exceptions=True)
        created = []
        try:
            for ou in ous:
                dn = ou if ou.lower().endswith(self.base_dn.lower()) else f"{ou},{self.base_dn}"
                with suppress(LDAPEntryAlreadyExistsResult):
                    conn.add(dn, ["top", "organizationalUnit"])
                created.append(dn)
        finally:
            conn.unbind()
        return created

    def __enter__(self) -> SambaDC:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_dc(root: Path | None = None, **kwargs: object) -> SambaDC:
    """Provision a domain in `root` (a new temp dir by default) and start its DC."""
    dc = SambaDC(root=root or Path(tempfile.mkdtemp(prefix="idconsole-samba-")), remove_on_stop=root is None,
                 **kwargs)  # type: ignore[arg-type]
    try:
        dc.provision()
        dc.start()
    except BaseException:
        dc.stop()
        raise
    return dc


def main(argv: list[str] | None = None) -> int:
    """`python -m console.sandbox.samba [--dir D]`: run a DC until Ctrl-C and print how to bind to it."""
    parser = argparse.ArgumentParser(prog="python -m console.sandbox.samba", description=main.__doc__)
    parser.add_argument("--dir", type=Path, help="where to provision (default: a new temp dir, removed at exit)")
    parser.add_argument("--realm", default="IDC.TEST")
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="idconsole-samba-"))
    dc = SambaDC(root=root, realm=args.realm, domain=args.realm.split(".")[0][:15], remove_on_stop=args.dir is None)
    try:
        dc.provision()
        dc.start()
        print(f"Samba AD DC for {dc.realm} on {dc.ldaps_url} (CA {dc.ca_file})")
        print(f"bind user {dc.admin_user}, base DN {dc.base_dn}")
        print(f"export AD_PASSWORD='{dc.admin_password}'   # throw-away sandbox password")
        print("Ctrl-C stops it.", flush=True)
        while dc.process and dc.process.poll() is None:
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        dc.stop()


if __name__ == "__main__":
    sys.exit(main())
