"""Import TensorFlow without its C++ start-up chatter (oneDNN/CUDA notices) on stderr.

TF 2.21 logs those through absl before any Python setting can reach it, so the only switch is
the file descriptor itself: point fd 2 at /dev/null while TF loads and finds its devices.
"""

from __future__ import annotations

import logging
import os


def import_tensorflow_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    tf.get_logger().setLevel(logging.ERROR)
