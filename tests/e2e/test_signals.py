#!/usr/bin/env python3
"""Signals a running service gets from service managers and operators, over the real binary:
SIGHUP ("reload") must not take the service down: serving the bundled rule set, it logs a
warning that there is no rule file to reload and keeps answering, on every hang-up, including
one sent the moment the service reports its address; SIGTERM afterwards still stops it cleanly
(exit 0). Reloading a rule file is test_reload.py's.

Usage: test_signals.py --binary PATH/TO/magnesium-cds --fixtures PATH/TO/fixtures
"""

import signal
import time
import unittest

import e2e_support as e2e
from e2e_support import Server

HANGUP_WARNING = r"warn.*SIGHUP: serving the bundled rule set, there is no rule file to reload"


class Hangup(unittest.TestCase):
    def test_hangup_is_logged_and_the_service_keeps_serving(self):
        server = Server()
        try:
            for count in (1, 2, 3):  # the handler must re-arm: every hang-up, not only the first
                server.process.send_signal(signal.SIGHUP)
                self.assertTrue(server.wait_for_log("(?s)" + ".*".join([HANGUP_WARNING] * count)),
                                "no warning for SIGHUP number %d; log:\n%s" % (count, server.read_log()))
                self.assertIsNone(server.process.poll(), "the service exited on SIGHUP")
                self.assertEqual(server.request("GET", "/healthz")[0], 200)
            self.assertTrue(e2e.severe_call_ok(server), "a hook call was not answered after SIGHUP")
        finally:
            server.stop_expecting_clean_exit()

    def test_hangup_right_after_the_address_is_announced(self):
        # The address line is what scripts wait for; a signal sent at once must already be
        # handled by the service, not by the default action.
        server = Server()
        try:
            server.process.send_signal(signal.SIGHUP)
            self.assertTrue(server.wait_for_log(HANGUP_WARNING), server.read_log())
            time.sleep(0.1)
            self.assertIsNone(server.process.poll(), "the service exited on SIGHUP")
            self.assertEqual(server.request("GET", "/healthz")[0], 200)
        finally:
            server.stop_expecting_clean_exit()


if __name__ == "__main__":
    e2e.main()
