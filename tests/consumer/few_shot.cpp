// The README's "C++ few-shot API" example: a new user's few answers -> her UserState -> her rewards.
#include <cstdio>

#include "core/session/personalizer.hpp"
using namespace plural::core;

int main(int argc, char** argv) {
  if (argc != 4) return 2;  // model.pt cache.h5 state-out
  const std::string q = "Which of these two statements would you rather say?";
  // --- README example starts ---
  Personalizer p(argv[1], argv[2]);  // a trained model + its feature cache
  UserState ann = p.adapt("ann", {   // her few answers: prompt, preferred, other
                                  {q, "I like to help others", "I am happy to wait years for a bigger reward"},
                                  {q, "I care about other people's feelings", "I plan my life decades ahead"}});
  double r = p.reward(ann, q, "I volunteer every weekend");  // her reward for any response
  ann.save(argv[3]);                                         // shared weights were never touched
  double p_ab =
      p.prefer(UserState::load(argv[3]), q, "I am kind to strangers", "I can wait a long time");  // P(a over b)
  // --- README example ends ---
  std::printf("reward %.6f p_ab %.6f shots %lld\n", r, p_ab, static_cast<long long>(ann.shots));
  return ann.shots == 2 && p_ab > 0 && p_ab < 1 ? 0 : 1;
}
