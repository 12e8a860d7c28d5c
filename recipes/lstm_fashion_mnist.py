"""2 x bidirectional LSTM(128) reading Fashion-MNIST images row by row, with shifted copies.

The tutorial's 2 x LSTM(128) overfits Fashion-MNIST: training accuracy reaches 0.978 while
validation stalls near 0.90. Single runs, test accuracy on the 10,000 test images: the
tutorial's model 0.8948 (tensorflow, 29 epochs, early stop); dropout 0.3 after each layer
0.8992 (30 epochs); both layers bidirectional 0.9011 (validation 0.9112, 30 epochs); this
recipe, which adds random shifts of up to 2 pixels to every training image each epoch,
weight decay 1e-4 and 40 epochs with patience 8, 0.9073 (validation 0.9124, torch, best
epoch 37). Shifts, weight decay and the longer schedule were measured together, not one by
one. The target of 0.910 test accuracy is missed by 0.27 points; validation accuracy was
still creeping up at epoch 40 with the learning rate at 1/8 of its start, so a longer
schedule or wider layers are the next things to try.
"""

from zoo.recipe import Recipe

RECIPE = Recipe(
    name="lstm_fashion_mnist",
    model="lstm_classifier",
    task="classification",
    # Shifts of up to 2 pixels: a few pixels' translation does not change the class.
    data={"dataset": "fashion_mnist", "source": "idx", "validation_size": 5000, "augment_shift": 2},
    # The tutorial's model overfits Fashion-MNIST by epoch 10 (train 0.91, validation 0.886).
    # Measured one at a time (README, Results): dropout after each layer 0.8948 -> 0.8992 test
    # accuracy, bidirectional layers 0.9011; shifts and weight decay fight the overfitting too.
    model_options={"dropout": 0.3, "bidirectional": True},
    epochs=40,
    batch_size=100,
    learning_rate=1e-3,
    weight_decay=1e-4,
    monitor="val_accuracy",
    monitor_mode="max",
    early_stopping_patience=8,
    reduce_lr_patience=3,
    description=__doc__.strip().splitlines()[0],
)

RECIPE.run_if_script(__name__)
