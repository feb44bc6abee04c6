"""What went wrong in a training run, in the words of the arithmetic that shows it.

- **Weights that are not finite before training** (written into the network's arrays from outside): refused before
  the first step, with their place, since no learning rate would help.
- **A divergence** (weights NaN or infinite after an epoch) has two causes that the numbers tell apart. L2's decay
  multiplies every weight by 1 − ηλ/n each step (n the training rows): where ηλ/n > 1 that factor is negative, so
  each step overshoots zero and, once ηλ/n > 2, multiplies the weights by more than 1 in size (Adam divides the
  decay by its own scale and is spared; the momentum rules bear more: L2 alone grows the weights once ηλ/n
  exceeds 2(1 + μ) for heavy-ball momentum, 2(1 + μ)/(1 + 2μ) for Nesterov's, and below those bounds the cause
  of a divergence is η, not L2). Otherwise the steps themselves overflowed: η is too large for this network,
  and features far outside [0, 1] make every weight step larger still (not Adam's, which are about η whatever the
  gradient: for Adam the features are not named). Plain SGD with a negative factor warns
  before the run even where it would not diverge (−1 < 1 − ηλ/n < 0 flips the weights without growing them).
- **Saturated sigmoids**: a hidden layer whose every neuron has σ(z) exactly 0 or 1 on the training rows has
  σ′ = a(1 − a) = 0, so BP2 passes no gradient below it; training "succeeds" and its layers below never learn.
  η = 1e30 does that in one step; features far too large for the initial weights do it before the first. Likewise
  tanh at ±1, and dead ReLUs (every unit's z ≤ 0 on every row). Checked before and after a run, on its first rows:
  a warning, not an error. The advice fits what the check sees: a layer the run saturated blames η (σ and tanh need
  an absurd one; a ReLU dies of one step too large, and leaky units never die); a layer saturated before the run
  blames features beyond about [0, 1] only for σ and tanh (a ReLU dies by z's sign, which no scaling of the features
  changes), and otherwise the weights and biases the run started from, with their reach, or features that are all 0.

Each message is a template naming its knobs (``{eta}``, ``{lmbda}``), which each face of gpubp writes in its words.
"""

from __future__ import annotations

from ..errors import InputError, TrainingDiverged, TrainingWarning
from ..model.inputs import first_non_finite, parameter_place

LARGE_FEATURES = 1e3  # |x| beyond which the features, not only η, make the steps large (they are meant to be ~1)
SATURATION_ROWS = 64  # rows the saturation check looks at: one forward pass of ~20 µs before a run and after it


def check_finite_before_training(net) -> None:
    """An ``InputError`` naming the first NaN or infinite parameter, where there is one."""
    if net.is_finite():
        return
    k, index = first_non_finite(net.backend.xp, net.weights + net.biases)
    raise InputError(
        f"the network's {parameter_place(k, index, len(net.weights))} is not finite before training: something "
        f"wrote it into the network's arrays (set_parameters refuses such values); set finite parameters, or "
        f"build the network anew"
    )


def negative_decay_warning(config, n: int) -> TrainingWarning | None:
    """A warning where plain SGD's L2 factor 1 − ηλ/n is negative for ``n`` training rows, else None: each step then
    overshoots zero, flipping every weight instead of shrinking it, whether or not the run diverges."""
    decay = config.eta * config.lmbda / n
    if config.optimizer != "sgd" or decay <= 1:
        return None
    return TrainingWarning(
        f"L2 multiplies every weight by 1 − ηλ/n = 1 − {config.eta:g}·{config.lmbda:g}/{n} = {1 - decay:.3g} at each "
        f"step ({{eta}} and {{lmbda}}, n = {n} training samples), a negative factor: each step flips the weights' "
        f"signs instead of shrinking them; choose {{lmbda}} below n/η = {n / config.eta:.3g}",
        "eta",
        "lmbda",
    )


def decay_growth_bound(config) -> float:
    """The ηλ/n above which L2 alone makes the weights grow under ``config``'s update rule: the stability bound of
    the rule on the quadratic (λ/2n)‖w‖², 2 for sgd, 2(1 + μ) for heavy-ball momentum, 2(1 + μ)/(1 + 2μ) for
    Nesterov's (PyTorch's forms); none for Adam, which divides the decay by its own scale."""
    mu = config.momentum
    bounds = {"sgd": 2.0, "momentum": 2 * (1 + mu), "nesterov": 2 * (1 + mu) / (1 + 2 * mu)}
    return bounds.get(config.optimizer, float("inf"))


def diverged(epoch: int, config, n: int, net, x) -> TrainingDiverged:
    """Why the weights stopped being finite in ``epoch`` of a run of ``config`` over the ``n`` training rows ``x``."""
    eta, lmbda, decay = config.eta, config.lmbda, config.eta * config.lmbda / n
    if decay > decay_growth_bound(config):  # below the bound a negative factor flips the weights but cannot grow them
        below = float(f"{n / lmbda / 2:.1g}")  # where 1 − ηλ/n > ½ again, by a round number
        return TrainingDiverged(
            epoch,
            f"L2 multiplies every weight by 1 − ηλ/n = 1 − {eta:g}·{lmbda:g}/{n} = {1 - decay:.3g} at each step "
            f"({{eta}} and {{lmbda}}, n = {n} training samples), a negative factor, so the weights overshoot zero "
            f"and grow step after step; choose {{lmbda}} below n/η = {n / eta:.3g}, or {{eta}} below n/λ = "
            f"{n / lmbda:.3g}, such as {below:g}",
            "eta",
            "lmbda",
            eta=below,
        )
    largest = float(net.backend.xp.abs(x).max())
    # BP4's gradient, so each step of the other rules, grows with the features; Adam's steps are about η whatever it is
    features = (
        f"; the features reach {largest:.3g}, and steps grow with them: scaling them to about [0, 1] helps as much"
        if largest > LARGE_FEATURES and config.optimizer != "adam"
        else ""
    )
    return TrainingDiverged(
        epoch,
        f"the steps overflowed {net.dtype.name} and the weights became NaN or infinite: {{eta={eta:g}}} is too large "
        f"for this network; try a smaller one, such as {eta / 10:g}{features}",
        "eta",
        eta=eta / 10,
    )


# What a saturated hidden layer of each activation looks like (leaky ReLU and identity units never saturate).
SATURATED = {
    "sigmoid": "each neuron's σ is exactly 0 or 1",
    "tanh": "each neuron's tanh is exactly −1 or 1",
    "relu": "each ReLU outputs 0 (every unit is dead)",
}
SCALED_INPUTS = 10.0  # |x| up to which features count as scaled (to [0, 1], or standardized): not what to fix
NARROWER_INIT = {"sigmoid": "scaled", "tanh": "glorot"}  # each saturating unit's draw narrower than N(0, 1)


class SaturationCheck:
    """Which hidden layers of ``net`` are saturated on the first rows ``x`` of the training data, before the run and
    after it: ``warning`` tells whether the run saturated them (η) or found them so, and then whether the features
    are too large or, where they are already scaled, the weights and biases the run started from."""

    def __init__(self, net, x):
        self.net, self.rows = net, x[:SATURATION_ROWS]
        self.before = self._saturated()

    def _saturated(self) -> list[int]:
        return self.net.saturated_layers(self.rows) if self.net.num_layers > 2 else []

    def warning(self, epoch: int, config) -> TrainingWarning | None:
        """A warning where a hidden layer is saturated after ``epoch``, the run's last; else None."""
        layers = self._saturated()
        if not layers:
            return None
        which = "every hidden layer is" if len(layers) == self.net.num_layers - 2 else f"hidden layer {layers[-1]} is"
        unit = SATURATED[self.net.activations[layers[-1] - 1]]
        state = (
            f"after epoch {epoch}, {which} saturated: {unit} on the training samples, so f′ = 0 and no gradient "
            f"reaches the layers below, which do not learn"
        )
        if set(layers) <= set(self.before):
            return self._found_saturated(state, layers[0])
        if self.net.activations[layers[-1] - 1] == "relu":  # dead ReLUs: a step too large, not an absurd η
            return TrainingWarning(
                f"{state}. Training killed them: a step of {{eta={config.eta:g}}} pushed every unit's z below 0 on "
                f"every sample, and a dead ReLU gets no gradient to come back; try a smaller {{eta}}, such as "
                f"{config.eta / 10:g}, or {{activation='leaky_relu'}}, whose units never die",
                "eta",
                "activation",
            )
        return TrainingWarning(
            f"{state}. Training saturated them: {{eta={config.eta:g}}} is far too large; try a smaller one, such as "
            f"{config.eta / 1000:g}",
            "eta",
        )

    def _found_saturated(self, state: str, layer: int) -> TrainingWarning:
        """Why the lowest saturated ``layer`` was so before the run: features too large for σ or tanh, or else the
        weights and biases it started from (a ReLU dies by z's sign, which no scaling of the features changes)."""
        net, xp = self.net, self.net.backend.xp
        activation, init = net.activations[layer - 1], net.inits[layer - 1]
        narrower = f"{{init='{NARROWER_INIT.get(activation)}'}}"
        features = float(xp.abs(self.rows).max())
        already = "They were saturated before training already"
        if activation != "relu" and features > SCALED_INPUTS:
            wide = f", or draw smaller weights with {narrower}" if init == "normal" else ""  # N(0, 1): the widest
            return TrainingWarning(
                f"{state}. {already}: the features (up to {features:.3g}) are too large for the weights; scale them "
                f"to about [0, 1]{wide}",
                "init",
            )
        weights, biases = net.weights[layer - 1], net.biases[layer - 1]
        started = (
            f"the weights and biases the run started from: hidden layer {layer}'s weights reach "
            f"{float(xp.abs(weights).max()):.3g} and its biases lie in [{float(biases.min()):.3g}, "
            f"{float(biases.max()):.3g}]"
        )
        fix = "if they come from an earlier run or from set_parameters, start from freshly drawn ones"
        if features == 0:
            cause = f"the features of the first {len(self.rows)} training samples are all 0, so each z is its bias"
            fix = "check the data"
        elif activation == "relu":
            cause = f"every unit's z is at most 0 on every sample, whatever the features' scale, because of {started}"
        else:
            below = (
                ""
                if layer == 1
                else f"; hidden layer {layer - 1}'s outputs reach {net.largest_input(self.rows, layer):.3g}"
            )
            cause = f"the features are already scaled (up to {features:.3g}{below}), so the cause is {started}"
            if init == "normal":  # N(0, 1) over very many inputs: z too wide even for scaled features
                fix += f"; if they are freshly drawn, draw smaller ones with {narrower}"
        if activation == "relu":
            fix += ", or use {activation='leaky_relu'}, whose units never die"
        return TrainingWarning(f"{state}. {already}: {cause}; {fix}", "init", "activation")
