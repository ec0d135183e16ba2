"""A one-node Apache Kafka broker (KRaft, loopback only) for tests and local runs.

The jars come from Maven Central (`dev/services.sh` or `make services` puts them in
`.cache/kafka/libs`). `KafkaBroker` formats a fresh storage folder, starts the broker on free
loopback ports, waits until it answers a metadata request, and stops it on exit; `stop()` and
`start()` restart it on the same data and port (broker-outage tests).

    python dev/kafka_broker.py            # prints the bootstrap address, runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LIBS = REPO_ROOT / ".cache" / "kafka" / "libs"
START_TIMEOUT_SECONDS = 60.0
LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d %p %c{{1}} %m%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
"""


class BrokerError(RuntimeError):
    """The broker could not be set up or did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    """True when the broker serves metadata (not merely when its port is open)."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:  # no client installed: an open port is the best sign available
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
    try:
        return len(admin.list_topics(timeout=1.0).brokers) > 0
    except Exception:
        return False


class KafkaBroker:
    """One KRaft broker+controller in a temporary folder; a context manager."""

    def __init__(self, libs: Path = DEFAULT_LIBS, workdir: Path | None = None) -> None:
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(
                f"the Kafka broker jars are missing from {libs}: run `make services` "
                "(or `bash dev/services.sh`), which fetches them with mvn"
            )
        if shutil.which("java") is None:
            raise BrokerError("java is missing: install a JDK 17 (Debian: openjdk-17-jre-headless)")
        self.libs = libs
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="fh-kafka-"))
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()
        self._format()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    def _write_config(self) -> None:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
        }
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        (self.workdir / "server.properties").write_text(text)
        (self.workdir / "log4j2.properties").write_text(LOG4J2.format(log=self.log_path))

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            "java",
            "-Xms128m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main_class,
            *args,
        ]

    def _format(self) -> None:
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            uuid.uuid4().hex[:22],
            "-c",
            str(self.workdir / "server.properties"),
        )
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting the Kafka storage failed: {done.stderr.strip()[-500:]}")

    def start(self) -> KafkaBroker:
        """Start the broker (again, on the same data and port) and wait until it answers."""
        if self.process is not None and self.process.poll() is None:
            return self
        out = (self.workdir / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(self.workdir / "server.properties")),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KAFKA_HEAP_OPTS": ""},
        )
        out.close()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"the Kafka broker exited at start: see {self.log_path}")
            if _answers(self.port):
                return self
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"the Kafka broker did not answer in {START_TIMEOUT_SECONDS:.0f} s")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); its data stays for a restart."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libs", type=Path, default=DEFAULT_LIBS, help="folder of broker jars")
    args = parser.parse_args()
    try:
        with KafkaBroker(args.libs) as broker:
            print(f"Kafka broker at {broker.bootstrap_servers} (Ctrl-C stops it)", flush=True)
            signals = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, signals)
            signal.sigwait(signals)
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
