"""A fake ``picamera2`` for machines without a Raspberry Pi camera.

It mirrors the part of picamera2's API that edged uses, with the real names, signatures, array
shapes and failure modes (read from github.com/raspberrypi/picamera2, written independently):

- ``Picamera2.global_camera_info()`` -> list of {Model, Location, Rotation, Id, Num};
  ``Picamera2(n)`` indexes that list, so with no camera it raises ``IndexError``.
- acquire failures (camera busy, driver trouble) raise ``RuntimeError("Camera __init__ sequence
  did not complete.")``; invalid configurations raise ``RuntimeError``/``ValueError``.
- ``create_preview/still/video_configuration`` return the same dict layout, with the same
  defaults (preview/still: sYCC full range; video: Smpte170m/Rec709 limited range).
- ``configure`` validates like the real one (even sizes, lores must be YUV on VC4, lores not
  larger than main) and fills in ``stride`` (rows padded to the ISP alignment) and ``framesize``.
- ``capture_request(wait=seconds)`` returns a ``CompletedRequest`` holding one of
  ``buffer_count`` buffers until ``release()``; with every buffer held, or no frames arriving,
  it raises ``TimeoutError`` (concurrent.futures'). A timed-out job stays queued until
  ``cancel_all_and_flush()`` and then swallows a frame, as in the real library.
- ``MappedArray(request, "main")`` maps the buffer: BGR888 -> (h, w, 3) in R,G,B order,
  RGB888 -> B,G,R, XBGR8888 -> R,G,B,255, YUV420 -> (h*3/2, stride).
- ISP crop (libcamera's Raspberry Pi pipeline handlers): on VC4 (Pi 4) one crop for both
  outputs, by default the sensor image cut to the main stream's aspect, centred; a
  ``ScalerCrop`` control is applied as given and scaled to each output (squeezing when the
  aspects differ). On PiSP (Pi 5) each output has its own crop: ``rpi::ScalerCrops`` is
  advertised, and at configure a stream with ``preserve_ar`` (picamera2's default for main)
  is cut to its aspect while the others see the whole field of view.
- metadata: SensorTimestamp (ns, CLOCK_MONOTONIC), ExposureTime, FrameDuration, ScalerCrop
  (main's crop), and on PiSP ScalerCrops (one per stream)...

Tests control the fake through ``picamera2.fake.WORLD`` (or, for a daemon subprocess, a JSON
file named by ``$FAKE_PICAMERA2_STATE``; see ``picamera2.fake``).
"""

from concurrent.futures import TimeoutError

from picamera2.picamera2 import Picamera2
from picamera2.request import CompletedRequest, MappedArray

__all__ = ["CompletedRequest", "MappedArray", "Picamera2", "TimeoutError"]
