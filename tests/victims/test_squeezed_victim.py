"""The shipped defended victim: catdog-mini behind a 4-bit colour-depth squeezer."""

import numpy as np
import tensorflow as tf

from audit.engine import value_and_grad
from victims.loading import load_victim
from victims.registry import SAMPLES_DIR


def test_squeezed_catdog_mini_keeps_its_accuracy_and_masks_its_gradient():
    from audit.images import load_photos

    plain = load_victim("catdog-mini").classifier
    masked = load_victim("catdog-mini-squeezed")
    assert masked.name == "catdog-mini-squeezed"
    photos, _ = load_photos(SAMPLES_DIR, masked.classifier.input_size)
    x = np.stack([p.pixels for p in photos[:32]]).astype(np.float32)
    y = np.array([masked.classifier.class_names.index(p.label) for p in photos[:32]])
    accurate = np.mean(masked.classifier.predict(x).argmax(1) == y)
    assert accurate >= np.mean(plain.predict(x).argmax(1) == y) - 0.1

    def objective(batch, aux):
        return tf.reduce_sum(masked.classifier.logits(batch), axis=1), {}

    _, grad, _ = value_and_grad(objective, tf.constant(x[:8]), {})
    assert np.all(grad.numpy() == 0)  # on the uint8 grid the squeezer's steps are flat
