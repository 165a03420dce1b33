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
