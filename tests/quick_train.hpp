#pragma once
// The one training setting tests share: quiet, a few epochs, early stopping after 10 flat ones, lr 3e-3. Tests change
// the one or two fields their case needs on the returned config.
#include "core/train/trainer.hpp"

namespace plural::test {

inline core::TrainConfig quick(int epochs) {
  core::TrainConfig t;
  t.progress = false;
  t.epochs = epochs;
  t.patience = 10;
  t.lr = 3e-3;
  return t;
}

}  // namespace plural::test
