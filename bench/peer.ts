/**
 * Replays a Stream through nodejs-order-book (the best-known TypeScript order book), the peer
 * we measure beside Lockstep. Its API takes string ids and option objects, so those objects
 * are part of its cost; the strings themselves are built before timing.
 */
import { OrderBook, Side as PeerSide } from "nodejs-order-book";
import { Op, type Stream } from "./stream.js";

export function newPeerBook(): OrderBook {
  return new OrderBook();
}

export function applyPeer(book: OrderBook, s: Stream, i: number): void {
  const id = s.idText[s.id[i]!]!;
  const side = s.side[i] === 0 ? PeerSide.BUY : PeerSide.SELL;
  switch (s.op[i]) {
    case Op.LIMIT:
      book.limit({ id, side, price: s.price[i]!, size: s.qty[i]! });
      break;
    case Op.CANCEL:
      book.cancel(id);
      break;
    case Op.MODIFY:
      if (s.movesPrice[i] === 1) book.modify(id, { price: s.price[i]! });
      else book.modify(id, { size: s.qty[i]! });
      break;
    default:
      book.market({ side, size: s.qty[i]! });
  }
}
