#!/usr/bin/perl
# smtpsink.pl - a recording SMTP sink for the end-to-end suite.
#
#   smtpsink.pl --listen 127.0.0.3:2526 --name good --log FILE
#               [--cert CRT --key KEY] [--max-tls 1.1] [--hostname NAME]
#               [--mode normal|starttls-error|inject|tarpit|huge-ehlo|
#                       drip-banner|drip-ehlo|drip-starttls|drip-tls|hostile-banner]
#               [--forward HOST:PORT] [--save DIR]
#
# Accepts every message.  With --cert it offers STARTTLS (with --max-tls
# it speaks nothing newer than that TLS version).  Appends one line per
# message to FILE:
#   sink=good from=<a@b> to=<c@d>,<e@f> tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 subject=...
# and runs until killed.  One connection at a time is plenty for the tests.
# With --forward it is a pass-through content filter, as amavis is: each
# message is recorded, then sent on unchanged (same envelope) to HOST:PORT,
# Postfix's re-injection smtpd; the client gets the re-injection's answer.
# With --save each message's text (dot-stuffing undone) is also written
# to DIR/NAME-N.eml, N counting from 1.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::SSL;
use Getopt::Long;
use Net::SMTP;

my ($listen, $name, $log, $cert, $key, $max_tls, $hostname, $mode, $forward, $save) = ('', 'sink', '/dev/null', '', '', '', 'sink.test', 'normal', '', '');
my $saved = 0;
GetOptions('listen=s' => \$listen, 'name=s' => \$name, 'log=s' => \$log, 'cert=s' => \$cert,
           'key=s' => \$key, 'max-tls=s' => \$max_tls, 'hostname=s' => \$hostname, 'mode=s' => \$mode,
           'forward=s' => \$forward, 'save=s' => \$save) or die "usage\n";
my $server = IO::Socket::INET->new(LocalAddr => $listen, Listen => 16, ReuseAddr => 1)
    or die "smtpsink: listen $listen: $!\n";
$SIG{PIPE} = 'IGNORE';
$| = 1;
print "ready\n";

sub record {
    my ($line) = @_;
    open(my $fh, '>>', $log) or die "smtpsink: $log: $!\n";
    print $fh "$line\n";
    close($fh);
}

while (my $client = $server->accept) {
    eval { serve($client) };
    alarm 0;  # serve's early returns leave it set: the sink would die of SIGALRM later
    close($client);
}

# Send a received message on (a content filter's re-injection); the reply
# for our client.
sub forward_message {
    my ($from, $to, $text) = @_;
    $text =~ s/^\.\././mg;   # undo the dot-stuffing; datasend does it again
    my $smtp = Net::SMTP->new($forward, Hello => $hostname, Timeout => 20)
        or return "451 4.3.0 re-injection to $forward failed\r\n";
    my $ok = $smtp->mail($from);
    for my $rcpt (@$to) { (my $r = $rcpt) =~ s/^<|>$//g; $ok &&= $smtp->to($r); }
    $ok = $ok && $smtp->data && $smtp->datasend($text) && $smtp->dataend;
    my $reply = $smtp->code . ' ' . ($smtp->message // '');
    $smtp->quit;
    $reply =~ s/\s+$//;
    return $ok ? "250 forwarded: $reply\r\n" : "451 4.3.0 re-injection refused: $reply\r\n";
}

# drip-*: a byte every 0.3 s, each well within a per-read timeout, so only
# a bound on the whole step stops the client from waiting for hours.
sub drip {
    my ($sock, $text) = @_;
    for my $c (split //, $text) {
        print $sock $c or return;
        select(undef, undef, undef, 0.3);
    }
}

sub serve {
    my ($sock) = @_;
    my ($tls, $cipher, $from, @to, $subject) = ('none', 'none', '', ());
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 30;
    if ($mode eq 'tarpit') { sleep 25; return; }   # accept, then say nothing
    if ($mode eq 'drip-banner') { drip($sock, "220 $hostname " . ("x" x 200) . "\r\n"); return; }
    if ($mode eq 'hostile-banner') {  # a terminal escape, C1 CSI, bidi override, invalid UTF-8, a quote
        print $sock "220 $hostname \e]0;pwned\a\e[2J\xc2\x9b" . "31m\xe2\x80\xae\xff\xfe\"\\ ESMTP\r\n";
    } else {
        print $sock "220 $hostname ESMTP sink\r\n";
    }
    while (defined(my $line = <$sock>)) {
        $line =~ s/\r?\n$//;
        if ($line =~ /^(EHLO|HELO)/i && $mode eq 'drip-ehlo') {
            drip($sock, "250-$hostname\r\n" x 50);
            return;
        } elsif ($line =~ /^STARTTLS/i && $mode eq 'drip-starttls') {
            drip($sock, "220 " . ("x" x 200) . "\r\n");
            return;
        } elsif ($line =~ /^STARTTLS/i && $mode eq 'drip-tls') {
            # a TLS record header announcing 16 KiB, then its body a byte at a time
            print $sock "220 go ahead\r\n";
            drip($sock, "\x16\x03\x03\x40\x00" . ("\x00" x 200));
            return;
        } elsif ($line =~ /^(EHLO|HELO)/i) {
            if ($mode eq 'huge-ehlo') { print $sock "250-" . ("x" x 70) . "\r\n" for 1 .. 15000; }
            print $sock "250-$hostname\r\n";
            print $sock "250-STARTTLS\r\n" if ($cert && $tls eq 'none') || $mode =~ /^drip-(starttls|tls)$/;
            print $sock "250 8BITMIME\r\n";
        } elsif ($line =~ /^STARTTLS/i && $mode eq 'starttls-error') {
            print $sock "454 4.7.0 TLS not available due to local problem\r\n";
        } elsif ($line =~ /^STARTTLS/i && $cert && $tls eq 'none') {
            # inject: plaintext that a careless client would read inside TLS
            print $sock $mode eq 'inject' ? "220 go ahead\r\n250 injected\r\n" : "220 go ahead\r\n";
            my %opt = (SSL_server => 1, SSL_cert_file => $cert, SSL_key_file => $key);
            if ($max_tls) {
                $opt{SSL_version} = $max_tls eq '1.1' ? 'TLSv1_1' : 'TLSv1';
                $opt{SSL_cipher_list} = 'DEFAULT:@SECLEVEL=0';
            }
            IO::Socket::SSL->start_SSL($sock, %opt) or return;
            $tls = $sock->get_sslversion;
            $cipher = $sock->get_cipher;
        } elsif ($line =~ /^MAIL FROM:\s*<([^>]*)>/i) {
            ($from, @to, $subject) = ($1, ());
            print $sock "250 ok\r\n";
        } elsif ($line =~ /^RCPT TO:\s*<([^>]*)>/i) {
            push @to, "<$1>";
            print $sock "250 ok\r\n";
        } elsif ($line =~ /^DATA/i) {
            print $sock "354 go\r\n";
            my $text = '';
            while (defined(my $d = <$sock>)) {
                last if $d =~ /^\.\r?\n$/;
                $d =~ s/^\.//;
                $text .= $d;
            }
            if ($save) {  # written whole, then renamed: a reader never sees half
                $saved++;
                open(my $fh, '>', "$save/$name-$saved.tmp") or die "smtpsink: $save: $!\n";
                print $fh $text;
                close($fh);
                rename("$save/$name-$saved.tmp", "$save/$name-$saved.eml");
            }
            ($subject) = $text =~ /^Subject:\s*(.*?)\r?$/mi;
            my ($reason) = $text =~ /^Diagnostic-Code:\s*(.*?)\r?$/mi;
            record(sprintf("sink=%s from=<%s> to=%s tls=%s cipher=%s subject=%s%s", $name, $from,
                           join(',', @to), $tls, $cipher, $subject // '', $reason ? " status=$reason" : ''));
            print $sock $forward ? forward_message($from, \@to, $text) : "250 queued\r\n";
        } elsif ($line =~ /^QUIT/i) {
            print $sock "221 bye\r\n";
            last;
        } else {
            print $sock "250 ok\r\n";
        }
    }
    alarm 0;
}
