"""Keras 3 definitions of the named victims' architectures, and the bench's small CNN.

All take 128x128x3 images with a white pixel at 1.0 and end in a softmax over [cat, dog].
"""

from __future__ import annotations

import keras

CLASS_NAMES = ("cat", "dog")
INPUT_SHAPE = (128, 128, 3)


def kaggle_catdog(keras_module=keras) -> keras.Model:
    """The CNN of Kaggle notebook uysimty/keras-cnn-dog-or-cat-classification (~12.9M params).

    Layer order and sizes follow the notebook exactly so that its Keras-2 ``model.h5`` weights
    load positionally into this rebuild. ``keras_module`` lets the tests build the very same
    network with Keras 2 (tf-keras) to write a genuine Keras-2 weights file.
    """
    layers = keras_module.layers
    model = keras_module.Sequential(name="kaggle_catdog")
    model.add(keras_module.Input(shape=INPUT_SHAPE))
    for filters in (32, 64, 128):
        model.add(layers.Conv2D(filters, (3, 3), activation="relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
        model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    model.add(layers.Dense(512, activation="relu"))
    model.add(layers.BatchNormalization())
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(2, activation="softmax"))
    return model


def catdog_mini() -> keras.Model:
    """A compact member of the same family, small enough to train on a 2-core CPU.

    Conv-BN-ReLU blocks with max pooling, global average pooling instead of the 12.8M-weight
    Dense(512) head. BatchNormalization momentum is 0.9 (not Keras's 0.99): with a few thousand
    training steps the 0.99 running statistics lag the weights and inference accuracy collapses.
    """
    layers = keras.layers
    bn = dict(momentum=0.9)
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization(**bn)(x)
    x = layers.ReLU()(x)
    for filters, convs in ((32, 1), (64, 2), (128, 2), (256, 1)):
        for _ in range(convs):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(**bn)(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    logits = layers.Dense(2, name="logits")(x)
    probs = layers.Softmax(name="probs")(logits)
    return keras.Model(inputs, probs, name="catdog_mini")


def small_cnn(seed: int = 0) -> keras.Model:
    """A small fast CNN for ``advaudit bench --model small``: four Conv(3x3)-ReLU-MaxPool blocks
    of 16/32/64/128 filters, global average pooling, Dense 2 + softmax (97,698 parameters).

    On a model this fast the attack's fixed cost per step shows, which the Kaggle CNN's heavy
    Dense layer hides; it is built in code with seeded weights so anyone can repeat the bench
    (speed does not depend on what the weights are).
    """
    layers = keras.layers
    initializer = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for filters in (16, 32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          kernel_initializer=initializer)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax", kernel_initializer=initializer)(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def colour_depth_squeezer(shape: tuple[int, ...], bits: int = 4,
                          input_scale: float = 1.0) -> keras.Model:
    """Feature squeezing (Xu et al. 2018) from standard layers: reduce every pixel to ``bits``.

    Each level boundary is a steep ``hard_sigmoid`` step placed half-way between two integer
    pixel values, a quarter count wide, so on the uint8 grid every step is saturated and the
    input gradient is exactly zero: the gradient masking of a published, broken defence, built from
    standard layers so the model saves and loads with ``safe_mode`` on.
    """
    levels = 2 ** bits
    width = 256 // levels
    slope = 6 * 4 * 255.0 / input_scale  # hard_sigmoid spans 6 units: a quarter count wide
    inputs = keras.Input(shape)
    steps = []
    for k in range(1, levels):
        threshold = (k * width - 0.5) / 255.0 * input_scale
        ramp = keras.layers.Rescaling(slope, offset=-slope * threshold)(inputs)
        steps.append(keras.layers.Activation("hard_sigmoid")(ramp))
    total = keras.layers.Add()(steps)
    squeezed = keras.layers.Rescaling(width / 255.0 * input_scale)(total)
    return keras.Model(inputs, squeezed, name=f"squeeze_{bits}bit")


def squeezed(model: keras.Model, bits: int = 4) -> keras.Model:
    """``model`` behind a colour-depth squeezer: same predictions on coarse images, zero
    gradients everywhere on the grid. A final softmax stays the outermost layer, so the audit
    still finds the logits before it."""
    shape = tuple(model.inputs[0].shape[1:])
    inputs = keras.Input(shape)
    last = model.layers[-1]
    body, head = model, None
    if isinstance(last, keras.layers.Softmax):
        body, head = keras.Model(model.inputs, last.input), keras.layers.Softmax()
    out = body(colour_depth_squeezer(shape, bits)(inputs))
    return keras.Model(inputs, head(out) if head is not None else out,
                       name=f"{model.name}_squeezed_{bits}bit")
