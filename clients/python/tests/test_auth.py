"""Logins. With authentication on: the HMAC proof of docs/security.md logs trading and feed
connections in; a wrong secret, no proof, or another account's key is refused (NOT_AUTHENTICATED),
and a feed without a login gets no reports. With it off: HELLO without a proof, and reports
without HELLO. The signature itself is checked against one computed by the nodes' own code.

Accounts 16-18, instrument 7 of the cluster's lists."""

from __future__ import annotations

import unittest

from cluster_env import ClusterTest, reports_through, with_auth, without_auth
from lockstep_client import Credentials, FeedClient, LoginRefused, Order, Refused, ReportKind, Side, TradingClient, WireReason, sign


class Signature(unittest.TestCase):
    def test_hmac_over_key_account_ts_nonce(self) -> None:
        # The nodes' sign("k1", secret, 1, 1700000000000000, "n1") (src/protocol/auth.ts), as hex.
        sig = sign("k1", "k1-secret-0123456789abcdef", 1, 1_700_000_000_000_000, "n1")
        self.assertEqual(sig.hex(), "d86f08f5bfa39f739a3dafe239d1e538b9615fde41fe6f17329626eb6f23d427")


class Login(ClusterTest):
    async def logs_in_and_reads_its_reports(self) -> None:
        """Account 16 logs in on /trade and /feed (with a proof when the cluster has auth) and sees its order's report."""
        acct, inst = self.env.account(16), self.env.instrument(7)
        feed = await self.reports(acct)
        t = await self.trader(acct)
        ack = await t.submit(Order(inst, Side.BUY, 1, price=10))
        [r] = await reports_through(feed, ack.seq)
        self.assertEqual((r.kind, r.account), (ReportKind.ACCEPTED, acct))

    async def test_with_auth_a_proof_logs_in_trading_and_reports(self) -> None:
        with_auth(self.env)
        await self.logs_in_and_reads_its_reports()

    async def test_with_auth_a_wrong_secret_no_proof_or_another_accounts_key_is_refused(self) -> None:
        with_auth(self.env)
        acct, other = self.env.account(17), self.env.account(18)
        key = self.env.credentials(acct)
        assert key is not None
        for creds, why in ((Credentials(key.key_id, "not-the-secret-0123456789"), "bad signature"), (None, "required"), (self.env.credentials(other), "not for that account")):
            with self.subTest(why=why), self.assertRaises(LoginRefused) as refused:
                await TradingClient.connect(self.env.trade_url, acct, creds)
            self.assertEqual(refused.exception.code, WireReason.NOT_AUTHENTICATED)
            self.assertIn(why, str(refused.exception))

    async def test_with_auth_a_feed_without_a_login_gets_no_reports(self) -> None:
        with_auth(self.env)
        feed = FeedClient(self.env.feed_urls[:1], account=self.env.account(16))
        await feed.start()
        with self.assertRaises(Refused) as refused:
            await feed.next_report(10)
        self.assertEqual(refused.exception.code, WireReason.NOT_AUTHENTICATED)
        await feed.close()

    async def test_without_auth_hello_needs_no_proof_and_reports_no_hello(self) -> None:
        without_auth(self.env)
        await self.logs_in_and_reads_its_reports()


if __name__ == "__main__":
    unittest.main()
