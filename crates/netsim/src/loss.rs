//! Random decisions: Bernoulli trials and the Gilbert–Elliott burst-loss chain.

use rand::Rng;
use rand::rngs::SmallRng;

use crate::config::GilbertElliott;

/// A Bernoulli trial with probability `p`. Certain outcomes (`p` of 0 or 1) draw nothing from
/// the generator, so switching an impairment off leaves the others' random sequence unchanged.
pub(crate) fn chance(rng: &mut SmallRng, p: f64) -> bool {
    if p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random::<f64>() < p
    }
}

/// The running state of a [`GilbertElliott`] chain.
#[derive(Debug, Clone)]
pub(crate) struct BurstLoss {
    model: GilbertElliott,
    bad: bool,
}

impl BurstLoss {
    /// Starts in the good state.
    pub(crate) fn new(model: GilbertElliott) -> Self {
        Self { model, bad: false }
    }

    /// Decides the fate of one packet, then steps the chain (netem's `loss_gilb_ell` order).
    pub(crate) fn loses(&mut self, rng: &mut SmallRng) -> bool {
        let m = &self.model;
        let (loss, leave) = if self.bad {
            (m.loss_bad, m.r)
        } else {
            (m.loss_good, m.p)
        };
        let lost = chance(rng, loss);
        if chance(rng, leave) {
            self.bad = !self.bad;
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn gilbert_bursts_last_one_over_r() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut chain = BurstLoss::new(GilbertElliott {
            p: 0.02,
            r: 0.2,
            ..Default::default()
        });
        let (mut lost, mut bursts, mut previous) = (0u32, 0u32, false);
        for _ in 0..200_000 {
            let now = chain.loses(&mut rng);
            lost += u32::from(now);
            bursts += u32::from(now && !previous);
            previous = now;
        }
        let mean_burst = f64::from(lost) / f64::from(bursts);
        assert!((4.5..5.5).contains(&mean_burst), "mean burst {mean_burst}");
        let rate = f64::from(lost) / 200_000.0;
        assert!((0.08..0.10).contains(&rate), "loss rate {rate}"); // p/(p+r) = 0.0909
    }

    #[test]
    fn certain_outcomes_draw_nothing() {
        let mut a = SmallRng::seed_from_u64(1);
        let mut b = a.clone();
        assert!(!chance(&mut a, 0.0) && chance(&mut a, 1.0));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
