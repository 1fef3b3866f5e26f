// What the pages share: the timeframes, the symbol listings and the current selection.

export const TIMEFRAMES = ["1m", "5m", "15m", "1h", "1d"];
export const TF_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400 };

export const state = {
  symbols: new Map(), // symbol -> listing
  symbol: null, // the charted symbol
  timeframe: "1d",
};

/** The timeframes the listing has bars stored in. */
export function storedTimeframes(listing) {
  return TIMEFRAMES.filter((tf) => listing.coverage && listing.coverage[tf]);
}
