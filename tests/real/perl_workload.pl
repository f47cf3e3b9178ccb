#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# perl_workload.pl — a deterministic workload for perl and its core modules, run by
# test_perl.py with and without the shim. It owns nothing but its output: every line depends
# only on its arguments (a size and a mode), never on hash order, addresses, time or pids, so
# the two runs must print the same bytes. Exercises: the regex engine (captures, named groups,
# /g loops, s///e, tr), hashes and arrays of references, sort, sprintf, pack/unpack, Storable
# (freeze/thaw/dclone/nstore/retrieve), Data::Dumper, JSON::PP, Digest::MD5/SHA, Compress::Zlib,
# Encode, List::Util, and ithreads with threads::shared (mutexes and condition variables in
# perl's interpreter), plus a die whose message and status must survive.
use strict;
use warnings;
use Storable qw(freeze thaw dclone nstore retrieve);
use Data::Dumper;
use JSON::PP;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use Compress::Zlib;
use Encode qw(encode decode);
use List::Util qw(sum max min reduce shuffle first);
use threads;
use threads::shared;

$Data::Dumper::Sortkeys = 1;
$Data::Dumper::Indent   = 1;

my $size = shift // 20000;
my $mode = shift // 'all';
my $dir  = shift // '.';

# a linear congruential generator: the same "random" text on every run and every machine
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $_[0]; }

my @syll = qw(ka lo mi nu pe ra si to vu xe ya zo an el in or um);
sub word { my $n = 1 + rnd(4); return join '', map { $syll[rnd(scalar @syll)] } 1 .. $n; }

if ($mode eq 'die') {
    my %h = map { word() => $_ } 1 .. 1000;
    print "built ", scalar(keys %h) > 0 ? "a hash" : "nothing", "\n";
    die "perl_workload: dying on purpose after " . (1000) . " inserts\n";
}

# 1. text generation and regex-heavy processing
my @lines;
for my $i (1 .. $size) {
    my @w = map { word() } 1 .. (3 + rnd(8));
    my $line = sprintf("%06d %s: %s", $i, (rnd(3) ? 'INFO' : rnd(2) ? 'WARN' : 'ERROR'),
                       join(' ', @w));
    $line .= sprintf(" id=%d-%x", rnd(100000), rnd(65536)) if rnd(4) == 0;
    push @lines, $line;
}
my (%freq, %level, %bigram, @ids);
for (@lines) {
    /^(?<num>\d+) (?<lvl>INFO|WARN|ERROR): (?<rest>.*)$/ or die "no match: $_";
    $level{$+{lvl}}++;
    my $rest = $+{rest};
    push @ids, [$1, hex $2] while $rest =~ /id=(\d+)-([0-9a-f]+)/g;
    $rest =~ s/ id=\S+//g;
    my @w = split ' ', $rest;
    $freq{$_}++ for @w;
    $bigram{"$w[$_] $w[$_+1]"}++ for 0 .. $#w - 1;
}
my @top = (sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq)[0 .. 9];
print "lines: ", scalar(@lines), ", distinct words: ", scalar(keys %freq),
      ", bigrams: ", scalar(keys %bigram), ", ids: ", scalar(@ids), "\n";
print "levels: ", join(', ', map { "$_=$level{$_}" } sort keys %level), "\n";
print "top words: ", join(' ', map { "$_($freq{$_})" } @top), "\n";
my $vowels = 0;
for (keys %freq) { (my $t = $_) =~ tr/aeiou//d; $vowels += length($_) - length($t); }
print "vowels in vocabulary: $vowels\n";
my $text = join "\n", @lines;
(my $upper = $text) =~ s/\b([a-z])([a-z]*)\b/\U$1\E$2/g;
(my $sums = $text) =~ s/(\d+)-([0-9a-f]+)/$1 + hex($2)/ge;
print "md5 text: ", md5_hex($text), " upper: ", md5_hex($upper), " sums: ", md5_hex($sums), "\n";

# 2. nested structures, Storable and Data::Dumper
my %db;
for my $w (@top, (sort keys %freq)[0 .. 199]) {
    $db{$w} = { count => $freq{$w}, len => length $w,
                syll => [ $w =~ /([^aeiou]*[aeiou]+)/g ],
                packed => unpack('H*', pack('N n C', $freq{$w}, length $w, ord $w)) };
}
my $frozen = freeze(\%db);
my $thawed = thaw($frozen);
my $clone  = dclone($thawed);
$clone->{$top[0]}{count}++;
my $file = "$dir/perl_workload.storable";
nstore($clone, $file);
my $back = retrieve($file);
unlink $file;
my $d1 = Dumper($thawed);
my $d2 = Dumper($back);
print "storable: ", length($frozen) > 1000 ? "frozen" : "tiny", ", thaw equal: ",
      ($d1 eq Dumper(\%db) ? "yes" : "no"), ", clone differs: ", ($d1 ne $d2 ? "yes" : "no"),
      ", dumper md5 ", md5_hex($d2), "\n";
print Data::Dumper->Dump([ $back->{$top[0]} ], ['top']);

# 3. JSON round trip, compression, encodings
my $json = JSON::PP->new->canonical->pretty;
my $js   = $json->encode({ levels => \%level, top => [ @top ], ids => [ @ids[0 .. 49] ] });
my $obj  = $json->decode($js);
print "json: ", length($js), " bytes, sha256 ", sha256_hex($js), ", ids back: ",
      scalar(@{ $obj->{ids} }), "\n";
my $z = compress($text, 9);
print "zlib: ", length($text), " -> ", length($z), " bytes, round trip ",
      (uncompress($z) eq $text ? "ok" : "BAD"), "\n";
my $uni   = join '', map { chr(0x400 + rnd(0x100)) . chr(0x3b1 + rnd(20)) } 1 .. 5000;
my $bytes = encode('UTF-8', $uni);
print "utf-8: ", length($uni), " chars, ", length($bytes), " bytes, round trip ",
      (decode('UTF-8', $bytes) eq $uni ? "ok" : "BAD"), ", md5 ", md5_hex($bytes), "\n";

# 4. list crunching and a growing/shrinking hash
my @nums = map { rnd(1_000_000) } 1 .. $size * 5;
my @sorted = sort { $a <=> $b } @nums;
print "numbers: sum ", sum(@nums), " min ", min(@nums), " max ", max(@nums), " median ",
      $sorted[@sorted / 2], " first>999000 ", (first { $_ > 999000 } @nums) // 'none', "\n";
my %h;
for my $round (1 .. 5) {
    $h{"k$_"} = [ ($_) x ($_ % 7) ] for 1 .. $size;
    delete $h{"k$_"} for grep { $_ % 3 } 1 .. $size;
}
print "hash after churn: ", scalar(keys %h), " keys, ", sum(map { scalar @$_ } values %h),
      " elements\n";

# 5. ithreads: workers share a counter and a list under perl's own locks; the main thread
# waits on a condition variable until every worker has reported
if ($mode ne 'nothreads') {
    my $total : shared = 0;
    my @done : shared;
    my @thr = map {
        my $k = $_;
        threads->create(sub {
            my $acc = 0;
            for my $i (1 .. 2000) {
                my $s = join ',', map { $_ * $k + $i } 1 .. 20;
                $acc += () = $s =~ /[13579],/g;
                { lock($total); $total += 1; }
            }
            { lock(@done); push @done, "w$k:$acc"; cond_signal(@done); }
            return $acc;
        });
    } 1 .. 4;
    { lock(@done); cond_wait(@done) while @done < 4; }
    my $sum = 0;
    $sum += $_->join for @thr;
    print "threads: total $total, sum $sum, done ", join(' ', sort @done), "\n";
}
print "done\n";
exit 0;
