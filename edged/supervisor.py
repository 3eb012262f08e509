"""The one component that wires and swaps running parts: model, source, sockets, pipeline.

A reload and the Edge TPU fallback both go through here. A reload is a transaction: every
part the new config needs is built, loaded and bound (a new model loaded, a new pulled
source opened, a socket on a new address bound) while the old pipeline keeps running; only
then is the old pipeline stopped (its threads joined) and the new one started. Any failure
before that point leaves the old parts untouched. An endpoint whose address and socket
settings did not change keeps its socket. A socket that must be rebound on the same
address (e.g. new CURVE keys) is the one step that cannot be prepared beside the old one:
it is rebound after the old pipeline stopped, and on failure the old socket is rebound and
the old pipeline restarted.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from edged.config import Config, PublishConfig
from edged.emitter import Emitter
from edged.errors import EX_SOFTWARE, EdgedError, PublishError
from edged.framepub import FramePublisher, frames_endpoint
from edged.health import Health
from edged.labels import read_label_file
from edged.messages import PredictionBuilder
from edged.metadata import packed_labels
from edged.pipeline import Pipeline
from edged.plan import effective_resize
from edged.publisher import Publisher, SocketPolicy
from edged.runtime.loader import load_model
from edged.runtime.model import ModelRunner
from edged.security import load_keypair
from edged.sources import build_source
from edged.sources.base import Source
from edged.stats import Stats
from edged.tasks import Decoder, DecoderContext, build_decoder

log = logging.getLogger("edged.daemon")

# publish.* fields that only the publish thread reads: changing them keeps the sockets
SOFT_PUBLISH_FIELDS = {"topic", "masks", "frames", "frames_endpoint", "frames_quality",
                       "status_topic", "status_interval"}
STOP_TIMEOUT_S = 5.0  # a pipeline's threads get this long to end before they are abandoned
REBIND_S = 3.0  # how long a tcp address closed a moment ago may take to become free


@dataclass
class Parts:
    """What a config builds; a reload rebuilds only what its changes touch."""

    runner: ModelRunner
    decoder: Decoder
    source: Source
    labels: str | None = None  # where the labels came from: file:…, metadata:…, or None


@dataclass
class Sockets:
    """The bound sockets of one generation, in a ZeroMQ context of their own (so a new CURVE
    authenticator never collides with the running one)."""

    context: zmq.Context
    publisher: Publisher
    frames: FramePublisher | None = None
    frames_at: str | None = None

    def close(self) -> None:
        if self.frames is not None:
            self.frames.stop()
        self.publisher.close()
        # every socket in it is closed by now; destroy (not term) so that one a failed
        # bind left behind can never block us
        self.context.destroy(linger=self.publisher.config.linger_ms)


@dataclass
class Staged:
    config: Config
    parts: Parts
    sockets: Sockets | None = None  # None: keep the running ones
    rebind: bool = False  # same address, new socket settings: rebind after the stop
    frames: FramePublisher | None = None  # a new frames socket beside kept predictions
    frames_at: str | None = None
    opened: list[Source] = field(default_factory=list)


def build_model_parts(config: Config) -> tuple[ModelRunner, Decoder, str | None]:
    runner = load_model(config)
    label_map, label_source = None, None
    if config.model.labels is not None:
        label_map = read_label_file(config.model.labels)
        label_source = f"file:{config.model.labels}"
    elif (packed := packed_labels(runner.file.path)) is not None:  # the file in use
        label_map, member = packed
        label_source = f"metadata:{runner.file.path.name}:{member}"
    ctx = DecoderContext(outputs=runner.outputs, model_path=str(config.model_path),
                         model_config=config.model, label_map=label_map,
                         label_source=label_source, masks=config.publish.masks,
                         input_size=runner.input_size)
    decoder = build_decoder(config.model.task, ctx)
    log.info("task %s, labels from %s", decoder.task, label_source or "nowhere (indices only)")
    return runner, decoder, label_source


def model_files(config: Config) -> tuple[tuple[int, int, int] | None, ...]:
    """Identity of the files a model load reads: a file replaced in place under the same
    name (an updated model, then ``systemctl reload``) counts as a change."""
    def ident(path: Path | None) -> tuple[int, int, int] | None:
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size) if st else None
    m = config.model
    return ident(config.model_path), ident(m.edgetpu_path), ident(m.labels)


def wanted_frames_endpoint(pub: PublishConfig) -> str | None:
    if not pub.frames:
        return None
    return pub.frames_endpoint or frames_endpoint(pub.endpoint)


def socket_settings(pub: PublishConfig) -> dict[str, Any]:
    return pub.model_dump(exclude=SOFT_PUBLISH_FIELDS)


class Supervisor:
    def __init__(self, config: Config, run_id: str, stats: Stats, health: Health,
                 emitter: Emitter) -> None:
        self.config, self.run_id = config, run_id
        self.stats, self.health, self.emitter = stats, health, emitter
        self.parts: Parts | None = None
        self.sockets: Sockets | None = None
        self.pipeline: Pipeline | None = None
        self._frames = itertools.count()
        self._files: tuple[tuple[int, int, int] | None, ...] = ()

    # --- first start -----------------------------------------------------------------------

    def load(self) -> None:
        self._files = model_files(self.config)
        runner, decoder, labels = build_model_parts(self.config)
        self.parts = Parts(runner, decoder, build_source(self.config.source), labels)

    def bind(self) -> None:
        assert self.parts is not None
        self.sockets = self._new_sockets(self.config.publish, self.parts.runner.input_size)

    def start(self) -> None:
        self.health.await_inference("starting", None)
        self._start_pipeline()

    # --- what status and the Edge TPU fallback read ----------------------------------------

    def delegate_name(self) -> str:
        return self.parts.runner.delegate_name if self.parts else "cpu"

    def invoking_since(self) -> float | None:
        return self.pipeline.invoking_since if self.pipeline else None

    def health_reason(self) -> str | None:
        return self.health.reason

    def set_health(self, state: str, reason: str | None) -> None:
        self.health.set(state, reason)

    def source_description(self) -> str:
        return self.parts.source.describe() if self.parts else ""

    def model_description(self) -> dict[str, Any]:
        return self.parts.runner.describe() if self.parts else {}

    def labels_origin(self) -> str | None:
        return self.parts.labels if self.parts else None

    def subscribers(self) -> int:
        return self.sockets.publisher.subscribers if self.sockets else 0

    def extras(self) -> dict[str, Any]:
        """Status fields of the parts: event counts, refused peers, unreadable files."""
        out: dict[str, Any] = {"events": self.emitter.events.counts()}
        if self.sockets is not None:
            out["guard"] = self.sockets.publisher.guard_counts()
        counters = getattr(self.parts.source, "counters", None) if self.parts else None
        if callable(counters):
            out["source_counters"] = counters()
        return out

    # --- swaps -----------------------------------------------------------------------------

    def swap_model(self, config: Config, require_edgetpu: bool = False,
                   degraded: str | None = None) -> None:
        """Load ``config``'s model and run it in place of the current one (same source,
        sockets, run_id and seq). With ``require_edgetpu``, EdgedError unless it landed on
        the TPU (the running pipeline is untouched then)."""
        assert self.parts is not None
        runner, decoder, labels = build_model_parts(config)
        if require_edgetpu and runner.delegate_name != "edgetpu":
            raise EdgedError("the Edge TPU is still not usable")
        self._stop_pipeline()
        self.parts = Parts(runner, decoder, self.parts.source, labels)
        if degraded:
            self.health.set("degraded", degraded)
        else:
            self.health.await_inference(self.health.state, self.health.reason)
        self._start_pipeline()

    def reload(self, new: Config) -> bool:
        """Apply ``new``; on EdgedError the old config still runs, untouched. False when
        nothing changed (the running pipeline is left alone)."""
        if new == self.config and model_files(new) == self._files:
            return False
        staged = self._stage(new)
        try:
            self._commit(staged)
        except EdgedError:
            self._discard(staged)
            raise
        return True

    def _stage(self, new: Config) -> Staged:
        """Build, load and bind what ``new`` needs, beside the running parts."""
        old, parts = self.config, self.parts
        assert parts is not None and self.sockets is not None
        staged = Staged(new, parts)
        files = model_files(new)
        try:
            if new.model != old.model or new.publish.masks != old.publish.masks or \
                    files != self._files:
                runner, decoder, labels = build_model_parts(new)
                staged.parts = Parts(runner, decoder, parts.source, labels)
            self.emitter.events.check(new, staged.parts.decoder)  # zones' labels vs the model
            if new.source != old.source:
                staged.parts.source = source = build_source(new.source)
                if not source.live:  # files or synthetic: check it opens before the swap
                    source.target_size = staged.parts.runner.input_size
                    source.open()
                    staged.opened.append(source)
            self._stage_sockets(staged)
        except EdgedError:
            self._discard(staged)
            raise
        except Exception as exc:  # e.g. an unexpected library error: the same promise
            self._discard(staged)
            raise EdgedError(f"{type(exc).__name__}: {exc}") from exc
        return staged

    def _stage_sockets(self, staged: Staged) -> None:
        assert self.sockets is not None
        old_pub, new_pub = self.config.publish, staged.config.publish
        size = staged.parts.runner.input_size
        frames_at = wanted_frames_endpoint(new_pub)
        if socket_settings(new_pub) != socket_settings(old_pub):
            taken = {old_pub.endpoint, self.sockets.frames_at} - {None}
            if taken & {new_pub.endpoint, frames_at}:
                staged.rebind = True  # cannot be bound beside the old one
                if new_pub.curve is not None:  # what can be checked before the stop
                    load_keypair(new_pub.curve.secret_key_file)
            else:
                staged.sockets = self._new_sockets(new_pub, size)
        elif frames_at != self.sockets.frames_at and frames_at is not None:
            if frames_at == old_pub.endpoint:
                raise PublishError(f"publish.frames_endpoint {frames_at} is the predictions "
                                   "endpoint")
            staged.frames = self._new_frames(self.sockets.context, frames_at, new_pub, size,
                                             self.sockets.publisher.policy)
            staged.frames_at = frames_at

    def _commit(self, staged: Staged) -> None:
        assert self.sockets is not None
        old_config, old_sockets = self.config, self.sockets
        self._stop_pipeline()
        if staged.rebind:
            old_sockets.close()
            try:
                staged.sockets = self._bind_retrying(staged.config.publish,
                                                     staged.parts.runner.input_size)
            except EdgedError as exc:
                self._restore(old_config, exc)
                raise
        self.config, self.parts = staged.config, staged.parts
        self._files = model_files(staged.config)
        if staged.sockets is not None:
            self.sockets = staged.sockets
            if not staged.rebind:
                old_sockets.close()  # threads joined: nothing uses them any more
        else:
            self._keep_sockets(staged)
        logging.getLogger("edged").setLevel(staged.config.log.level)
        self.health.await_inference("starting", "reloaded: waiting for the first frame")
        self._start_pipeline(source_open=any(s is staged.parts.source for s in staged.opened))

    def _restore(self, old: Config, error: EdgedError) -> None:
        """The new sockets could not be bound: the old ones again, and the old pipeline."""
        assert self.parts is not None
        try:
            self.sockets = self._bind_retrying(old.publish, self.parts.runner.input_size)
        except EdgedError as again:
            self.sockets = None
            self.health.fail(f"reload: cannot bind the new sockets ({error}) nor the "
                             f"previous ones again ({again})", EX_SOFTWARE)
            return
        self.health.await_inference(self.health.state, self.health.reason)
        self._start_pipeline()

    def _keep_sockets(self, staged: Staged) -> None:
        """Same sockets: new soft settings, and the frames socket added, moved or dropped."""
        s = self.sockets
        assert s is not None
        pub = staged.config.publish
        s.publisher.config = pub
        s.publisher.status_topic = pub.status_topic.encode()
        frames_at = wanted_frames_endpoint(pub)
        if staged.frames is not None or frames_at is None:
            if s.frames is not None:
                s.frames.stop()
            s.frames, s.frames_at = staged.frames, staged.frames_at
        elif s.frames is not None:
            s.frames.quality = pub.frames_quality

    def _discard(self, staged: Staged) -> None:
        for source in staged.opened:
            source.close()
        if staged.frames is not None:
            staged.frames.stop()
        if staged.sockets is not None and not staged.rebind:
            staged.sockets.close()
            staged.sockets = None

    # --- sockets ---------------------------------------------------------------------------

    def _new_sockets(self, pub: PublishConfig, size: tuple[int, int]) -> Sockets:
        context = zmq.Context()
        publisher = Publisher(pub, context)
        try:
            publisher.bind()
            frames_at = wanted_frames_endpoint(pub)
            frames = self._new_frames(context, frames_at, pub, size, publisher.policy) \
                if frames_at else None
        except BaseException:
            publisher.close()
            context.destroy(linger=0)
            raise
        return Sockets(context, publisher, frames, frames_at)

    @staticmethod
    def _new_frames(context: zmq.Context, endpoint: str, pub: PublishConfig,
                    size: tuple[int, int], policy: SocketPolicy) -> FramePublisher:
        # the predictions socket's policy: same CURVE keys, authenticator and ipc group
        frames = FramePublisher(endpoint, (size[1], size[0], 3), pub.frames_quality,
                                context=context, policy=policy)
        frames.start()
        return frames

    def _bind_retrying(self, pub: PublishConfig, size: tuple[int, int]) -> Sockets:
        """Bind an address closed a moment ago: ZeroMQ closes its listener asynchronously,
        so the port may still be taken for a few milliseconds."""
        deadline = time.monotonic() + REBIND_S
        while True:
            try:
                return self._new_sockets(pub, size)
            except PublishError as exc:
                if os.strerror(errno.EADDRINUSE) not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # --- pipeline --------------------------------------------------------------------------

    def _start_pipeline(self, source_open: bool = False) -> None:
        assert self.parts is not None and self.sockets is not None
        runner, decoder, source = self.parts.runner, self.parts.decoder, self.parts.source
        cfg = self.config
        builder = PredictionBuilder(self.run_id, decoder.task, source.describe(),
                                    runner.describe())
        self.emitter.attach(cfg.publish, self.sockets.publisher, self.sockets.frames, builder)
        self.emitter.events.configure(cfg, decoder)
        self.pipeline = Pipeline(
            source, runner, decoder, self.emitter.emit, self.emitter.on_idle, self.stats,
            self.health, fps=cfg.source.fps, backoff=cfg.source.backoff,
            resize=effective_resize(cfg.model, runner.plan)[0],
            interpolation=cfg.model.interpolation, pad_value=runner.plan.pad_value,
            frame_counter=self._frames, keep_images=cfg.publish.frames,
            source_open=source_open)
        self.pipeline.start()

    def _stop_pipeline(self) -> bool:
        """Stop the running pipeline; False if a thread had to be abandoned (hung)."""
        if self.pipeline is None:
            return True
        return self.pipeline.stop(timeout=STOP_TIMEOUT_S)

    def shutdown(self) -> bool:
        """Ordered: threads joined first, then the final status, then the sockets. False
        when a thread hung: its sockets are left alone (the caller exits the process)."""
        joined = self._stop_pipeline()
        if not joined:
            return False
        if self.sockets is not None:
            self.emitter.send_status()
            self.sockets.close()
            self.sockets = None
        return True
