"""The point a job hands back: its first success, else its lowest loss, wherever it was seen."""

import numpy as np
import tensorflow as tf

from audit.attacks.rounds import keep_better, kept_init, settle
from audit.engine import PoolResult


def test_keep_better_prefers_success_then_lower_loss():
    x = tf.zeros([3, 2, 2, 1])
    state = kept_init(x, 2)
    probs = tf.constant([[0.9, 0.1]] * 3)
    state = keep_better(state, x + 1, probs, tf.constant([1.0, 1.0, 1.0]),
                        tf.constant([False, False, True]))
    # row 0: a lower loss replaces; row 1: a higher loss does not; row 2: a failure never
    # replaces a success, however low its loss
    state = keep_better(state, x + 2, probs, tf.constant([0.5, 3.0, -9.0]),
                        tf.constant([False, False, False]))
    np.testing.assert_array_equal(state["kept_x"].numpy()[:, 0, 0, 0], [2, 1, 1])
    np.testing.assert_array_equal(state["kept_loss"].numpy(), [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(state["kept_success"].numpy(), [False, False, True])


def test_settle_picks_the_final_evaluation_or_the_kept_point():
    n = 5
    final_x = np.full((n, 1), 7.0, np.float32)
    kept_x = np.full((n, 1), 3.0, np.float32)
    pool = PoolResult(
        state={"x": final_x, "kept_x": kept_x,
               "kept_probs": np.full((n, 2), 0.25, np.float32),
               "kept_loss": np.array([1.0, 1.0, 1.0, 1.0, np.inf], np.float32),
               "kept_success": np.array([False, False, False, True, False])},
        extras={"probs": np.full((n, 2), 0.5, np.float32),
                "values": np.array([-1.0, 2.0, 0.5, 0.1, 4.0], np.float32)},
        success=np.array([True, False, False, False, False]),
        steps=np.zeros(n, np.int64), evaluations=n, grad_evals=n, queries=0)
    x, probs, success, loss = settle(pool)
    # 0: final success; 1: kept, lower loss; 2: final, lower loss; 3: kept success;
    # 4: nothing kept yet (finished at its first evaluation)
    np.testing.assert_array_equal(x[:, 0], [7, 3, 7, 3, 7])
    np.testing.assert_array_equal(success, [True, False, False, True, False])
    np.testing.assert_array_equal(loss, [-1.0, 1.0, 0.5, 1.0, 4.0])
    np.testing.assert_array_equal(probs[:, 0], [0.5, 0.25, 0.5, 0.25, 0.5])
