// Every metric of a prediction with its definition, from KATO_SEMANTICS.md §4.5 and
// §4.10–§4.12. Lp = pattern length, m = |matches|, x = |extras|, Lpr = |flatten(present)|,
// R = flatten(present), prob(s) = the ensemble's symbol probability (§4.11).

export const METRICS = [
  ["potential", "(evidence + confidence) · snr + itfdf_similarity + φ, φ = 1 / (fragmentation + 1), or 0 when fragmentation = −1 (§4.12); the ranking key"],
  ["similarity", "2·M / (|pattern| + |state|), M = symbols in the matching blocks of the sequence matcher (§4.5)"],
  ["evidence", "m / Lp: matched symbols over the pattern's length (§4.10)"],
  ["confidence", "m / Lpr: matched symbols over the symbols of the present events (§4.10)"],
  ["snr", "(2m − x) / (2m + x), x = number of extras (§4.10)"],
  ["fragmentation", "number of matching blocks − 1; −1 for a candidate with no match (§4.10)"],
  ["frequency", "how many times the pattern was learned (§4.10)"],
  ["itfdf_similarity", "1 − distance · frequency / F_ens, distance = 1 − cosine(prob(s)·count in state, prob(s)·count in R), F_ens = Σ frequency of the ensemble (§4.12)"],
  ["entropy", "Σ over each symbol s of R of −prob(s)·log2 prob(s) (§4.12)"],
  ["hamiltonian", "Σ over each symbol s of R of −π·log_T_sym π, π = count of s in R / |R| (§4.12)"],
  ["grand_hamiltonian", "Σ over distinct symbols s of R of −prob(s)·log_T_sym prob(s) (§4.12)"],
  ["confluence", "(frequency / T_pf) · (1 − Π over R of q(s)), q(s) = prob(s), or 1e−10 when 0 (§4.12)"],
];

export const FORMULA = Object.fromEntries(METRICS);

export function formatMetric(value) {
  if (typeof value !== "number") return String(value ?? "—");
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}
