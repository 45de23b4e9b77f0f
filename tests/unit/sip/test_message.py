"""SIP messages: the RFC 4475 torture tests, header fields and their typed values, responses,
stream framing, and round trips ``parse_message(bytes(m)) == m`` on random messages."""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.sip import (
    AbsoluteUri,
    AuthHeader,
    BadExtension,
    CSeq,
    Event,
    Headers,
    MediaType,
    NameAddr,
    Params,
    Replaces,
    SipFramingError,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    SipStreamParser,
    SipUri,
    SipVersionError,
    SipWarning,
    SubscriptionState,
    TelUri,
    Via,
    check_extensions,
    format_date,
    make_response,
    parse_message,
    parse_uri,
    quote,
    reason_phrase,
    split_list,
)
from glasshouse.protocols.sip.message import _parse_common, _parse_full


def wire(text: str) -> bytes:
    """A message written with ``\\n`` line ends, as it goes on the wire (CRLF, UTF-8)."""
    return text.replace("\n", "\r\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# RFC 4475 "SIP Torture Test Messages", transcribed from the RFC text. Line ends are CRLF as in
# the RFC's archive. The one exception is mpart01: its binary S/MIME part cannot be recovered
# from the printed RFC, so it is replaced by binary octets of the same length (342) that start
# like the original DER and contain CR, LF and NUL octets.

WSINV = wire(
    r"""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

INTMETH = wire(
    "!interesting-Method0123456789_*+`.%indeed'~ "
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:"
    "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
    'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
    "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"
    ";fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\n"
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
    "Max-Forwards: 255\n"
    "extensionHeader-!.%*+_`'~:\ufeff大停電\n"
    "Content-Length: 0\n"
    "\n"
)

ESC01 = wire(
    """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

ESCNULL = wire(
    """REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

"""
)

ESC02 = wire(
    """RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"""
)

LWSDISP = wire(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"""
)

_LONG = "long" * 20
LONGREQ = wire(
    "INVITE sip:user@example.com SIP/2.0\n"
    'To: "I have a user name of ' + "extreme" * 10 + ' proportion"'
    "<sip:user@example.com:6000;unknownparam1=very"
    + _LONG
    + "value;longparam"
    + "name" * 25
    + "=shortvalue;verylong"
    + "long" * 24
    + "ParameterNameWithNoValue>\n"
    "F: sip:" + "amazinglylongcallername" * 5 + "@example.net;tag=12" + "982" * 50 + "424"
    ";unknownheaderparam"
    + "name" * 20
    + "=unknowheaderparam"
    + "value" * 15
    + ";unknownValueless"
    + "paramname" * 10
    + "\n"
    "Call-ID: longreq.one" + "really" * 20 + "longcallid\n"
    "CSeq: 3882340 INVITE\n"
    "Unknown-"
    + "Long" * 20
    + "-Name: unknown-"
    + _LONG
    + "-value; unknown-"
    + _LONG
    + "-parameter-name = unknown-"
    + _LONG
    + "-parameter-value\n"
    "Via: SIP/2.0/TCP sip33.example.com\n"
    "v: SIP/2.0/TCP sip32.example.com\n"
    "V: SIP/2.0/TCP sip31.example.com\n"
    "Via: SIP/2.0/TCP sip30.example.com\n"
    "ViA: SIP/2.0/TCP sip29.example.com\n"
    "VIa: SIP/2.0/TCP sip28.example.com\n"
    "VIA: SIP/2.0/TCP sip27.example.com\n"
    "via: SIP/2.0/TCP sip26.example.com\n"
    "viA: SIP/2.0/TCP sip25.example.com\n"
    "vIa: SIP/2.0/TCP sip24.example.com\n"
    "vIA: SIP/2.0/TCP sip23.example.com\n"
    "V :  SIP/2.0/TCP sip22.example.com\n"
    "v :  SIP/2.0/TCP sip21.example.com\n"
    "V  : SIP/2.0/TCP sip20.example.com\n"
    "v  : SIP/2.0/TCP sip19.example.com\n"
    "Via : SIP/2.0/TCP sip18.example.com\n"
    "Via  : SIP/2.0/TCP sip17.example.com\n"
    + "".join(f"Via: SIP/2.0/TCP sip{n}.example.com\n" for n in range(16, 0, -1))
    + "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very"
    + "long" * 50
    + "branchvalue\n"
    "Max-Forwards: 70\n"
    "Contact: <sip:" + "amazinglylongcallername" * 5 + "@host5.example.net>\n"
    "Content-Type: application/sdp\n"
    "l: 150\n"
    "\n"
    "v=0\n"
    "o=mhandley 29739 7272939 IN IP4 192.0.2.1\n"
    "s=-\n"
    "c=IN IP4 192.0.2.1\n"
    "t=0 0\n"
    "m=audio 49217 RTP/AVP 0 12\n"
    "m=video 3227 RTP/AVP 31\n"
    "a=rtpmap:31 LPC\n"
)

DBLREQ = wire(
    """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

SEMIURI = wire(
    """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

"""
)

TRANSPORTS = wire(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"""
)

_MPART_SIGNATURE = b"\x30\x82\x01\x52\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0" + bytes(
    (i * 73 + 41) % 256 for i in range(342 - 16)
)
MPART01 = (
    wire(
        "MESSAGE sip:kumiko@example.org SIP/2.0\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\n"
        "Max-Forwards: 70\n"
        "Route: <sip:127.0.0.1:5080>\n"
        "Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+"
        "813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteei"
        "vUhkMWYUA=\n"
        "Contact: <sip:fluffy@127.0.0.1:5070>\n"
        "To: <sip:kumiko@example.org>\n"
        "From: <sip:fluffy@example.com>;tag=2fb0dcc9\n"
        "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\n"
        "CSeq: 1 MESSAGE\n"
        "Content-Transfer-Encoding: binary\n"
        "Content-Type: multipart/mixed;boundary=7a9cbec02ceef655\n"
        "Date: Sat, 15 Oct 2005 04:44:56 GMT\n"
        "User-Agent: SIPimp.org/0.2.5 (curses)\n"
        "Content-Length: 553\n"
        "\n"
        "--7a9cbec02ceef655\n"
        "Content-Type: text/plain\n"
        "Content-Transfer-Encoding: binary\n"
        "\n"
        "Hello\n"
        "--7a9cbec02ceef655\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: binary\n"
        "\n"
    )
    + _MPART_SIGNATURE
    + b"\r\n--7a9cbec02ceef655--\r\n"
)

UNREASON = wire(
    """SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

NOREASON = wire(
    """SIP/2.0 100\x20
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

"""
)

# Sections 3.3 and 3.4: syntactically valid messages with unusual content.

INV2543 = wire(
    """INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
"""
)

UNKSCM = wire(
    """OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"""
)

NOVELSC = wire(
    """OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"""
)

UNKSM2 = wire(
    """REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

"""
)

BEXT01 = wire(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0

"""
)

INVUT = wire(
    """INVITE sip:user@example.com SIP/2.0
Contact: <sip:caller@host5.example.net>
To: sip:j.user@example.com
From: sip:caller@example.net;tag=8392034
Max-Forwards: 70
Call-ID: invut.0ha0isndaksdjadsfij34n23d
CSeq: 235448 INVITE
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw
Content-Type: application/unknownformat
Content-Length: 40

<audio>
 <pcmu port="443"/>
</audio>
"""
)

REGAUT01 = wire(
    """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

"""
)

REGESCRT = wire(
    """REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

"""
)

CPARAM01 = wire(
    """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

"""
)

CPARAM02 = wire(
    """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

"""
)

ZEROMF = wire(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

"""
)

BCAST = wire(
    """SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host28.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

# Section 3.1.2: invalid messages.

BADINV01 = wire(
    """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

CLERR = wire(
    """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.155
s=-
c=IN IP4 192.0.2.155
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

NCL = wire(
    """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.53
s=-
c=IN IP4 192.0.2.53
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

SCALAR02 = wire(
    """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1"""
    + "0" * 104
    + """
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

"""
)

SCALARLG = wire(
    """SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

"""
)

QUOTBAL = wire(
    """INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 152

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

LTGTRURI = wire(
    """INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 159

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=3149328700 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

LWSRURI = wire(
    """INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 159

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=3149328700 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

LWSSTART = wire(
    """INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

TRWS = wire(
    """OPTIONS sip:remote-target@example.com SIP/2.0\x20\x20
Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

"""
)

ESCRURI = wire(
    """INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

BADDATE = wire(
    """INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

REGBADCT = wire(
    """REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

"""
)

BADASPEC = wire(
    """OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"""
)

BADDN = wire(
    """OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

"""
)

BADVERS = wire(
    """OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

"""
)

MISMATCH01 = wire(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

"""
)

MISMATCH02 = wire(
    """NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: 138

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
c=IN IP4 192.0.2.1
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

BIGCODE = wire(
    """SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

"""
)

BADBRANCH = wire(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

"""
)

INSUF = wire(
    """INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 152

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.95
s=-
c=IN IP4 192.0.2.95
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

MULTI01 = wire(
    """INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 154
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.25
s=-
c=IN IP4 192.0.2.25
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC

"""
)

MCL01 = wire(
    """OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
"""
)

VALID = {
    "wsinv": WSINV,
    "intmeth": INTMETH,
    "esc01": ESC01,
    "escnull": ESCNULL,
    "esc02": ESC02,
    "lwsdisp": LWSDISP,
    "longreq": LONGREQ,
    "dblreq": DBLREQ,
    "semiuri": SEMIURI,
    "transports": TRANSPORTS,
    "mpart01": MPART01,
    "unreason": UNREASON,
    "noreason": NOREASON,
    "inv2543": INV2543,
    "unkscm": UNKSCM,
    "novelsc": NOVELSC,
    "unksm2": UNKSM2,
    "bext01": BEXT01,
    "invut": INVUT,
    "regaut01": REGAUT01,
    "regescrt": REGESCRT,
    "cparam01": CPARAM01,
    "cparam02": CPARAM02,
    "zeromf": ZEROMF,
    "bcast": BCAST,
}

# name -> (message, exception type, reason, status of the response hint or None)
INVALID = {
    "badinv01": (BADINV01, SipParseError, "line 7: bad Via header: empty parameter", None),
    "clerr": (CLERR, SipFramingError, "Content-Length 9999 but 154 bytes of body", 400),
    "ncl": (NCL, SipFramingError, "bad Content-Length '-999'", 400),
    "scalar02": (
        SCALAR02,
        SipParseError,
        "line 5: bad CSeq header: 36893488147419103232 exceeds 2147483647",
        400,
    ),
    "scalarlg": (
        SCALARLG,
        SipParseError,
        "line 5: bad CSeq header: 9292394834772304023312 exceeds 2147483647",
        None,
    ),
    "quotbal": (QUOTBAL, SipParseError, "line 2: bad To header: unterminated quoted string", None),
    "ltgtruri": (LTGTRURI, SipParseError, "bad Request-URI: must not be enclosed in <>", 400),
    "lwsruri": (
        LWSRURI,
        SipParseError,
        "bad request line: 4 elements, expected 'METHOD Request-URI SIP/2.0'",
        400,
    ),
    "lwsstart": (
        LWSSTART,
        SipParseError,
        "bad request line: elements must be separated by single spaces",
        400,
    ),
    "trws": (TRWS, SipParseError, "bad request line: trailing whitespace", 400),
    "escruri": (
        ESCRURI,
        SipParseError,
        "bad Request-URI: header components are not allowed",
        400,
    ),
    "baddate": (
        BADDATE,
        SipParseError,
        "line 8: bad Date header: 'Fri, 01 Jan 2010 16:00:00 EST' is not an RFC 1123 date in GMT",
        400,
    ),
    "regbadct": (
        REGBADCT,
        SipParseError,
        "line 8: bad Contact header: a URI with ',', ';' or '?' must be enclosed in <>",
        400,
    ),
    "badaspec": (BADASPEC, SipParseError, "line 5: bad To header: whitespace inside <>", None),
    "baddn": (
        BADDN,
        SipParseError,
        "line 4: bad From header: display name 'Bell, Alexander' must be quoted",
        None,
    ),
    "badvers": (BADVERS, SipVersionError, "unsupported SIP version 'SIP/7.0'", 505),
    "mismatch01": (
        MISMATCH01,
        SipParseError,
        "CSeq method INVITE does not match request method OPTIONS",
        400,
    ),
    "mismatch02": (
        MISMATCH02,
        SipParseError,
        "CSeq method INVITE does not match request method NEWMETHOD",
        400,
    ),
    "bigcode": (BIGCODE, SipParseError, "bad status code '4294967301'", None),
    "badbranch": (
        BADBRANCH,
        SipParseError,
        "Via branch is the bare magic cookie z9hG4bK",
        400,
    ),
    "insuf": (INSUF, SipParseError, "missing From, To, Call-ID headers", None),
    "multi01": (MULTI01, SipParseError, "line 7: second CSeq header", 400),
    "mcl01": (MCL01, SipFramingError, "conflicting Content-Length headers: 13 and 5", 400),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_rfc4475_valid_messages_parse_and_round_trip(name: str) -> None:
    data = VALID[name]
    message = parse_message(data)
    if name != "dblreq":
        # The transcription is faithful: each body is exactly what Content-Length announces.
        assert data.endswith(message.body)
        assert len(data) - data.index(b"\r\n\r\n") - 4 == len(message.body)
    assert parse_message(bytes(message)) == message
    for typed in ("via", "from_", "to", "call_id", "cseq", "contact", "max_forwards", "route"):
        getattr(message, typed)  # every validated field can be read


@pytest.mark.parametrize("name", sorted(INVALID))
def test_rfc4475_invalid_messages_say_why(name: str) -> None:
    data, kind, reason, hint_status = INVALID[name]
    with pytest.raises(SipParseError) as excinfo:
        parse_message(data)
    error = excinfo.value
    assert type(error) is kind
    assert error.reason == reason
    assert str(error) == reason
    assert isinstance(error, ValueError)
    if hint_status is None:
        assert error.response_hint is None
    else:
        assert error.response_hint is not None
        assert error.response_hint.status == hint_status
        assert error.response_hint.warning == reason


def test_wsinv_details() -> None:
    message = parse_message(WSINV)
    assert isinstance(message, SipRequest)
    assert message.method == "INVITE"
    assert message.uri == SipUri(
        user="vivekg", host="chair-dnrc.example.com", params=Params([("unknownparam", None)])
    )
    assert message.to.tag == "1918181833n"
    assert message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert message.max_forwards == 68
    assert message.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert message.cseq == CSeq(9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in message.via] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert message.headers["Subject"] == ""
    assert message.headers["NewFangledHeader"] == "newfangled value continued newfangled value"
    assert message.headers["unknownheaderwithunusualvalue"] == ";;,,;;,;"
    assert message.content_type == MediaType(main_type="application", subtype="sdp")
    (route,) = message.route
    assert isinstance(route.uri, SipUri) and route.uri.lr
    (contact,) = message.contact
    assert contact.display_name == 'Quoted string ""'
    assert contact.q == 0.33
    assert contact.params == Params(
        [("newparam", "newvalue"), ("secondparam", None), ("q", "0.33")]
    )
    assert message.body.startswith(b"v=0\r\n") and len(message.body) == 150


def test_intmeth_details() -> None:
    message = parse_message(INTMETH)
    assert isinstance(message, SipRequest)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.params.get("fromParam''~+*_!.-%") == '"работающий"'
    assert message.from_.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers["extensionHeader-!.%*+_`'~"] == "\ufeff大停電"
    assert message.top_via.branch == "z9hG4bK-.!%66*_+`'~"


def test_escaped_values() -> None:
    esc01 = parse_message(ESC01)
    assert isinstance(esc01, SipRequest) and isinstance(esc01.uri, SipUri)
    assert esc01.uri.user == "sips:user@example.com"
    assert isinstance(esc01.to.uri, SipUri) and esc01.to.uri.user == "user"
    assert isinstance(esc01.from_.uri, SipUri) and esc01.from_.uri.user == "I have spaces"
    (contact,) = esc01.contact
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.user == "caller"
    assert contact.uri.params == Params([("lr", None), ("name", "value%41")])
    escnull = parse_message(ESCNULL)
    users = [c.uri.user for c in escnull.contact if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]
    esc02 = parse_message(ESC02)
    assert isinstance(esc02, SipRequest) and esc02.method == "RE%47IST%45R"
    assert esc02.to.display_name == "%Z%45"
    assert len(esc02.contact) == 2
    assert esc02.headers["C%6Fntact"] == "<sip:alias2@host2.example.com>"


def test_other_valid_details() -> None:
    assert parse_message(LWSDISP).from_.display_name == "caller"
    longreq = parse_message(LONGREQ)
    assert len(longreq.via) == 34
    assert longreq.via[-1].received == "192.0.2.5"
    dblreq = parse_message(DBLREQ)
    assert isinstance(dblreq, SipRequest) and dblreq.method == "REGISTER" and dblreq.body == b""
    semiuri = parse_message(SEMIURI)
    assert isinstance(semiuri, SipRequest) and isinstance(semiuri.uri, SipUri)
    assert semiuri.uri.user == "user;par=u@example.net"
    assert semiuri.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]
    assert [v.transport for v in parse_message(TRANSPORTS).via] == [
        "UDP",
        "SCTP",
        "TLS",
        "UNKNOWN",
        "TCP",
    ]
    mpart = parse_message(MPART01)
    assert len(mpart.body) == 553 and _MPART_SIGNATURE in mpart.body
    assert mpart.date == datetime(2005, 10, 15, 4, 44, 56, tzinfo=UTC)
    assert mpart.user_agent == "SIPimp.org/0.2.5 (curses)"
    assert mpart.top_via.rport is None and "rport" in mpart.top_via.params
    unreason = parse_message(UNREASON)
    assert isinstance(unreason, SipResponse)
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    noreason = parse_message(NOREASON)
    assert isinstance(noreason, SipResponse)
    assert (noreason.status, noreason.reason) == (100, "")
    assert bytes(noreason).startswith(b"SIP/2.0 100 \r\n")
    inv2543 = parse_message(INV2543)
    assert inv2543.top_via.branch is None and inv2543.max_forwards is None
    assert inv2543.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    unkscm = parse_message(UNKSCM)
    assert isinstance(unkscm, SipRequest) and isinstance(unkscm.uri, AbsoluteUri)
    unksm2 = parse_message(UNKSM2)
    assert unksm2.to.uri == AbsoluteUri(scheme="isbn", opaque="2983792873")
    assert str(unksm2.contact[0].uri) == "name:John_Smith"
    (auth,) = parse_message(REGAUT01).authorization
    assert auth == AuthHeader(
        scheme="NoOneKnowsThisScheme", params=(("opaque-data", "here", False),)
    )
    (regescrt,) = parse_message(REGESCRT).contact
    assert isinstance(regescrt.uri, SipUri)
    assert regescrt.uri.headers == (("Route", "<sip:sip.example.com>"),)
    (cparam01,) = parse_message(CPARAM01).contact
    assert cparam01.params == Params([("unknownparam", None)])
    assert isinstance(cparam01.uri, SipUri) and cparam01.uri.params == Params()
    (cparam02,) = parse_message(CPARAM02).contact
    assert cparam02.params == Params()
    assert isinstance(cparam02.uri, SipUri) and "unknownparam" in cparam02.uri.params
    assert parse_message(ZEROMF).max_forwards == 0
    assert parse_message(BCAST).via[1].host == "255.255.255.255"


def test_bext01_is_rejected_with_420_by_the_extension_check() -> None:
    request = parse_message(BEXT01)
    assert isinstance(request, SipRequest)
    with pytest.raises(BadExtension) as excinfo:
        check_extensions(request, supported=["100rel", "timer"])
    error = excinfo.value
    assert isinstance(error, SipParseError)
    assert error.reason == "unsupported Require: nothingSupportsThis, nothingSupportsThisEither"
    assert error.response_hint is not None
    response = error.response_hint.response(to_tag="t1")
    assert response.status == 420 and response.reason == "Bad Extension"
    assert response.unsupported == ["nothingSupportsThis", "nothingSupportsThisEither"]
    # A UAS looks at Require only (option tags compared case-insensitively), a proxy at
    # Proxy-Require only.
    check_extensions(request, supported=["nothingsupportsthis", "NothingSupportsThisEither"])
    with pytest.raises(BadExtension) as excinfo:
        check_extensions(request, supported=["nothingSupportsThis"], proxy=True)
    assert excinfo.value.reason == (
        "unsupported Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis"
    )


def test_response_hint_builds_a_400_with_a_warning() -> None:
    with pytest.raises(SipParseError) as excinfo:
        parse_message(CLERR)
    hint = excinfo.value.response_hint
    assert hint is not None
    response = hint.response(to_tag="abc", agent="proxy.example.com")
    again = parse_message(bytes(response))
    assert isinstance(again, SipResponse)
    assert (again.status, again.reason) == (400, "Bad Request")
    assert again.to.tag == "abc"
    assert again.call_id == "clerr.0ha0isndaksdjweiafasdk3"
    assert again.cseq == CSeq(8, "INVITE")
    assert again.warning == [
        SipWarning(399, "proxy.example.com", "Content-Length 9999 but 154 bytes of body")
    ]
    with pytest.raises(SipVersionError) as excinfo:
        parse_message(BADVERS)
    assert excinfo.value.response_hint is not None
    assert excinfo.value.response_hint.response().status == 505


def test_ack_is_never_answered() -> None:
    data = MISMATCH01.replace(b"OPTIONS sip:", b"ACK sip:")
    with pytest.raises(SipParseError) as excinfo:
        parse_message(data)
    assert excinfo.value.reason == "CSeq method INVITE does not match request method ACK"
    assert excinfo.value.response_hint is None


# ---------------------------------------------------------------------------------------------
# Framing errors and header lines

_SIMPLE = (
    "OPTIONS sip:bob@example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\n"
    "To: <sip:bob@example.com>\n"
    "From: Alice <sip:alice@example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\n"
    "CSeq: 63104 OPTIONS\n"
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n", "empty message"),
        (wire(_SIMPLE), "no empty line after the headers"),
        (wire(_SIMPLE + "Bad Header: x\n\n"), "header line 7 has a bad name 'Bad Header'"),
        (wire(_SIMPLE + "NoColon\n\n"), "header line 7 has no colon"),
        (wire(_SIMPLE + ": empty name\n\n"), "header line 7 has a bad name ''"),
        (
            wire(_SIMPLE).replace(b"\r\nVia", b"\r\n Via", 1) + b"\r\n",
            "header line 2 is a continuation with no header before it",
        ),
        (wire(_SIMPLE + "X: a\rb\n\n"), "line 7 contains a bare CR or LF"),
        (
            wire(_SIMPLE + "X: a\n\n").replace(b"X: a\r\n", b"X: a\nY: b\r\n"),
            "line 7 contains a bare CR or LF",
        ),
        (wire(_SIMPLE + "Content-Length: 5\n\nabc"), "Content-Length 5 but 3 bytes of body"),
        (wire(_SIMPLE + "Content-Length: +5\n\nabcde"), "bad Content-Length '+5'"),
        (wire(_SIMPLE + "Content-Length: 1" + "0" * 20 + "\n\n"), "bad Content-Length '1"),
        (
            wire(_SIMPLE + "Max-Forwards: 256\n\n"),
            "line 7: bad Max-Forwards header: 256 exceeds 255",
        ),
        (wire(_SIMPLE + "Expires: soon\n\n"), "line 7: bad Expires header: 'soon' is not a number"),
        (
            wire(_SIMPLE + "Contact: *\nContact: <sip:a@b>\n\n"),
            "Contact * must be the only Contact",
        ),
        (
            wire(_SIMPLE + "Contact: <sip:a@b>;q=2\n\n"),
            "line 7: bad Contact header: bad q parameter: '2' is not a q-value",
        ),
        (
            wire(_SIMPLE + "Route: sip:proxy.example.com;lr\n\n"),
            "line 7: bad Route header: the URI must be enclosed in <>",
        ),
        (wire(_SIMPLE + "Content-Type: text\n\n"), "line 7: bad Content-Type header: expected '/'"),
        (wire(_SIMPLE.replace("SIP/2.0\n", "SIP/2.0 \n", 1) + "\n"), "bad request line: trailing"),
        (wire("SIP/2.0 99 Low\n" + _SIMPLE[36:] + "\n"), "bad status code '99'"),
        (wire("SIP/3.0 200 OK\n" + _SIMPLE[36:] + "\n"), "unsupported SIP version 'SIP/3.0'"),
        (wire("INVITE sip:a@b XIP/2.0\n\n"), "bad request line: 'XIP/2.0' is not a SIP version"),
        (wire("INV(TE sip:a@b SIP/2.0\n\n"), "bad request line: method 'INV(TE' is not a token"),
    ],
)
def test_framing_and_header_errors(data: bytes, reason: str) -> None:
    with pytest.raises(SipParseError) as excinfo:
        parse_message(data)
    assert excinfo.value.reason.startswith(reason)


def test_header_folding_and_compact_forms() -> None:
    data = wire(
        "INVITE sip:bob@example.com SIP/2.0\n"
        "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1,\n"
        "\t SIP/2.0/TCP b.example.com:5070\n"
        "  ;branch=z9hG4bK2\n"
        "t: <sip:bob@example.com>\n"
        "f: <sip:alice@example.com>\n"
        " ;tag=x\n"
        "i: c1@example.com\n"
        "CSEQ: 1\n"
        "   INVITE\n"
        "m: <sip:alice@192.0.2.1>\n"
        "k: 100rel, timer\n"
        "s: folded\n"
        "    subject\n"
        "e: gzip\n"
        "c: text/plain\n"
        "l: 2\n"
        "\n"
        "hi"
    )
    message = parse_message(data)
    assert [name for name, _ in message.headers] == [
        "Via",
        "Via",
        "To",
        "From",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Supported",
        "Subject",
        "Content-Encoding",
        "Content-Type",
    ]
    assert [(v.host, v.port, v.branch) for v in message.via] == [
        ("a.example.com", None, "z9hG4bK1"),
        ("b.example.com", 5070, "z9hG4bK2"),
    ]
    assert message.headers["Subject"] == "folded subject"
    assert message.from_.tag == "x"
    assert message.cseq == CSeq(1, "INVITE")
    assert message.supported == ["100rel", "timer"]
    assert message.body == b"hi"
    assert b"Content-Length: 2\r\n\r\nhi" in bytes(message)


def test_split_list_respects_quotes_and_brackets() -> None:
    assert split_list('"Smith, John" <sip:a@b>;x="1,2", <sip:c@d?h=1,2>, *') == [
        '"Smith, John" <sip:a@b>;x="1,2"',
        "<sip:c@d?h=1,2>",
        "*",
    ]
    assert split_list(r'"a\", b", c') == [r'"a\", b"', "c"]
    assert split_list("a,,b") == ["a", "", "b"]
    assert split_list("") == [""]


def test_list_valued_fields_are_split_but_others_are_not() -> None:
    headers = Headers(
        [
            ("Contact", '"Smith, John" <sip:a@b>, <sip:c@d>'),
            ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
            ("WWW-Authenticate", 'Digest realm="a", nonce="b"'),
            ("Allow", "INVITE,ACK , BYE"),
            ("X-Custom", "a, b"),
        ]
    )
    assert headers.items() == [
        ("Contact", '"Smith, John" <sip:a@b>'),
        ("Contact", "<sip:c@d>"),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("WWW-Authenticate", 'Digest realm="a", nonce="b"'),
        ("Allow", "INVITE"),
        ("Allow", "ACK"),
        ("Allow", "BYE"),
        ("X-Custom", "a, b"),
    ]


def test_headers_collection() -> None:
    headers = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("To", "<sip:b@c>")])
    headers.prepend("Via", "SIP/2.0/TCP proxy;branch=z9hG4bK2")
    assert headers.get_all("VIA") == [
        "SIP/2.0/TCP proxy;branch=z9hG4bK2",
        "SIP/2.0/UDP a;branch=z9hG4bK1",
    ]
    assert headers.pop_first("via") == "SIP/2.0/TCP proxy;branch=z9hG4bK2"
    headers.add("x-thing", "  one  ")
    assert headers["X-THING"] == "one"
    assert "t" in headers and "From" not in headers
    headers.set("To", "<sip:x@y>;tag=1")
    assert headers.items()[1] == ("To", "<sip:x@y>;tag=1")
    assert headers.remove("to") == 1 and headers.get("To") is None
    assert headers.get("missing", "default") == "default"
    with pytest.raises(KeyError):
        headers["missing"]
    with pytest.raises(KeyError):
        headers.pop_first("missing")
    assert headers == Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("X-Thing", "one")])
    assert headers != Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1")])
    with pytest.raises(ValueError, match="Content-Length is written from the body"):
        headers.add("l", "5")
    with pytest.raises(ValueError, match="CR or LF"):
        headers.add("X-Injected", "a\r\nVia: evil")
    with pytest.raises(ValueError, match="bad header name"):
        headers.add("Bad Name", "x")
    copy = headers.copy()
    copy.add("X-More", "1")
    assert len(copy) == len(headers) + 1


# ---------------------------------------------------------------------------------------------
# Typed values


def test_via_values() -> None:
    via = Via.parse(
        "SIP/2.0/UDP [2001:db8::9]:5061;branch=z9hG4bK77;rport=5062;received=2001:db8::1"
        ";maddr=224.2.0.1;ttl=16"
    )
    assert via.host == "2001:db8::9" and via.port == 5061
    assert (via.branch, via.rport, via.received, via.maddr, via.ttl) == (
        "z9hG4bK77",
        5062,
        "2001:db8::1",
        "224.2.0.1",
        16,
    )
    assert Via.parse(str(via)) == via
    request_via = Via(transport="UDP", host="192.0.2.1", params=Params([("rport", None)]))
    answered = request_via.with_param("received", "198.51.100.7").with_param("rport", "40000")
    assert str(answered) == "SIP/2.0/UDP 192.0.2.1;rport=40000;received=198.51.100.7"
    for bad, detail in [
        ("SIP/2.0/UDP", "expected whitespace before the sent-by host"),
        ("SIP/2.0 UDP host", "expected '/', found 'U'"),
        ("SIP/2.0/UDP host;ttl=300", "bad ttl: 300 exceeds 255"),
        ("SIP/2.0/UDP host;received=example.com", "received 'example.com' is not an IP address"),
        ("SIP/2.0/UDP host;branch", "branch has no value"),
        ("SIP/2.0/UDP host:99999", "sent-by port 99999 out of range 0-65535"),
    ]:
        with pytest.raises(SipParseError) as excinfo:
            Via.parse(bad)
        assert excinfo.value.reason == f"bad Via header: {detail}"


def test_name_addr_values() -> None:
    bob = NameAddr.parse('"Bob \\"the\\" Builder" <sips:bob@biloxi.example.com>;tag=a6c85cf')
    assert bob.display_name == 'Bob "the" Builder'
    assert bob.tag == "a6c85cf"
    assert str(bob) == '"Bob \\"the\\" Builder" <sips:bob@biloxi.example.com>;tag=a6c85cf'
    assert NameAddr.parse(str(bob)) == bob
    plain = NameAddr.parse("sip:alice@atlanta.example.com;tag=88sja8x")
    assert plain.tag == "88sja8x"
    assert isinstance(plain.uri, SipUri) and plain.uri.params == Params()
    assert str(plain.with_tag("new")) == "<sip:alice@atlanta.example.com>;tag=new"
    tel = NameAddr.parse("<tel:+1-555-0100;phone-context=example.com>")
    assert isinstance(tel.uri, TelUri)
    contact = NameAddr.parse('<sip:a@192.0.2.4>;expires=3600;q=0.7;+sip.instance="<urn:uuid:1>"')
    assert (contact.expires, contact.q) == (3600, 0.7)
    assert contact.params.get("+sip.instance") == '"<urn:uuid:1>"'
    with pytest.raises(ValueError, match="not a token"):
        bob.with_tag("bad tag")
    with pytest.raises(ValueError, match="CR or LF"):
        NameAddr(uri=parse_uri("sip:a@b"), display_name="a\nb")


def test_cseq_media_type_and_simple_values() -> None:
    assert CSeq.parse("  4711   INVITE ") == CSeq(4711, "INVITE")
    with pytest.raises(SipParseError, match="expected whitespace"):
        CSeq.parse("1INVITE")
    with pytest.raises(ValueError, match="out of range"):
        CSeq(2**31, "INVITE")
    media = MediaType.parse('multipart/signed;protocol="application/pkcs7-signature";micalg=sha1')
    assert media.mime == "multipart/signed"
    assert media.params.get("micalg") == "sha1"
    assert MediaType.parse(str(media)) == media
    warning = SipWarning.parse("307 isi.edu \"Session parameter 'foo' not understood\"")
    assert warning == SipWarning(307, "isi.edu", "Session parameter 'foo' not understood")
    assert SipWarning.parse(str(warning)) == warning
    assert SipWarning.parse('399 [2001:db8::1]:5060 "x"').agent == "[2001:db8::1]:5060"
    with pytest.raises(SipParseError, match="three digits"):
        SipWarning.parse('1812 overture "In Progress"')


def test_auth_headers() -> None:
    challenge = AuthHeader.parse(
        'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth",'
        ' nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'
    )
    assert challenge.scheme == "Digest"
    assert challenge.get("REALM") == "atlanta.com"
    assert challenge.get("opaque") == ""
    assert challenge.get("stale") == "FALSE"
    assert AuthHeader.parse(str(challenge)) == challenge
    bearer = AuthHeader.parse("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x-_~+/==")
    assert bearer.token68 == "eyJhbGciOiJIUzI1NiJ9.e30.x-_~+/=="
    assert str(bearer) == "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x-_~+/=="
    with pytest.raises(SipParseError, match="bad Authorization header"):
        AuthHeader.parse('Digest realm="unterminated')


def test_refer_replaces_event_and_subscription_state() -> None:
    message = parse_message(
        wire(
            _SIMPLE.replace("OPTIONS", "REFER")
            + "Refer-To: <sip:carol@example.com?Replaces=425928%40bobster.example.org"
            "%3Bto-tag%3D7743%3Bfrom-tag%3D6472>\n"
            'Referred-By: <sip:bob@example.com>;cid="20398823.2UWQFN309shb3@referrer.example"\n'
            "Replaces: 425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only\n"
            "o: refer;id=93809824\n"
            "Subscription-State: terminated;reason=noresource;retry-after=30\n"
            "\n"
        )
    )
    refer_to = message.refer_to
    assert refer_to is not None and isinstance(refer_to.uri, SipUri)
    (name, value) = refer_to.uri.headers[0]
    assert name == "Replaces"
    assert Replaces.parse(value) == Replaces(
        call_id="425928@bobster.example.org", to_tag="7743", from_tag="6472"
    )
    assert message.referred_by is not None and message.referred_by.params.get("cid")
    replaces = message.replaces
    assert replaces == Replaces(
        call_id="425928@bobster.example.org", to_tag="7743", from_tag="6472", early_only=True
    )
    assert Replaces.parse(str(replaces)) == replaces
    assert message.event == Event(package="refer", params=Params([("id", "93809824")]))
    assert message.event is not None and message.event.id == "93809824"
    state = message.subscription_state
    assert state is not None
    assert (state.state, state.reason, state.retry_after, state.expires) == (
        "terminated",
        "noresource",
        30,
        None,
    )
    assert SubscriptionState.parse("active;expires=600").expires == 600
    with pytest.raises(SipParseError, match="to-tag and from-tag are required"):
        Replaces.parse("abc@def;to-tag=1")


def test_accessors_on_optional_and_repeated_fields() -> None:
    message = parse_message(
        wire(
            _SIMPLE + "Allow: INVITE, ACK, CANCEL\n"
            "Supported:\n"
            "Expires: 7200\n"
            "Min-Expires: 60\n"
            "User-Agent: Glasshouse/0.1 (test)\n"
            "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\n"
            "Contact: *\n"
            "Date: Sat, 13 Nov 2010 23:29:00 GMT\n"
            'Proxy-Authorization: Digest username="a", realm="r", nonce="n", uri="sip:x",'
            ' response="0"\n'
            "\n"
        )
    )
    assert message.allow == ["INVITE", "ACK", "CANCEL"]
    assert message.supported == []
    assert (message.expires, message.min_expires) == (7200, 60)
    assert message.user_agent == "Glasshouse/0.1 (test)" and message.server is None
    assert [str(r.uri) for r in message.record_route] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert message.contact_wildcard and message.contact == []
    assert message.date == datetime(2010, 11, 13, 23, 29, tzinfo=UTC)
    assert (
        format_date(datetime(2010, 11, 13, 23, 29, tzinfo=UTC)) == "Sat, 13 Nov 2010 23:29:00 GMT"
    )
    assert message.proxy_authorization[0].get("username") == "a"
    assert message.refer_to is None and message.content_type is None
    message.headers.add("Refer-To", "<sip:a@b>")
    message.headers.add("Refer-To", "<sip:c@d>")
    with pytest.raises(SipParseError, match="2 Refer-To headers where one is allowed"):
        _ = message.refer_to
    message.headers = Headers()
    with pytest.raises(SipParseError, match="missing Call-ID header"):
        _ = message.call_id
    with pytest.raises(SipParseError, match="missing Via header"):
        _ = message.top_via


# ---------------------------------------------------------------------------------------------
# Building and answering messages


def _request() -> SipRequest:
    message = parse_message(wire(_SIMPLE + "Timestamp: 54\n\n"))
    assert isinstance(message, SipRequest)
    return message


def test_serialisation_is_exact() -> None:
    request = SipRequest(
        "MESSAGE",
        parse_uri("sip:bob@example.com"),
        Headers(
            [("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bKx"), ("Content-Type", "text/plain")]
        ),
        b"hello",
    )
    assert bytes(request) == (
        b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKx\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"hello"
    )
    request.body = b""
    assert bytes(request).endswith(b"Content-Length: 0\r\n\r\n")
    with pytest.raises(ValueError, match="not a token"):
        SipRequest("BAD METHOD", parse_uri("sip:a@b"))
    with pytest.raises(ValueError, match="header components"):
        SipRequest("INVITE", parse_uri("sip:a@b?x=y"))
    with pytest.raises(ValueError, match="out of range"):
        SipResponse(700, "Too high")
    with pytest.raises(ValueError, match="CR or LF"):
        SipResponse(200, "OK\r\nVia: x")


def test_make_response_copies_the_transaction_fields() -> None:
    request = _request()
    ringing = make_response(
        request, 180, to_tag="8321234356", headers=[("Contact", "<sip:bob@192.0.2.4>")]
    )
    assert (ringing.status, ringing.reason) == (180, "Ringing")
    assert ringing.headers.items() == [
        ("Via", "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds"),
        ("From", "Alice <sip:alice@example.com>;tag=1928301774"),
        ("To", "<sip:bob@example.com>;tag=8321234356"),
        ("Call-ID", "a84b4c76e66710@pc33.example.com"),
        ("CSeq", "63104 OPTIONS"),
        ("Contact", "<sip:bob@192.0.2.4>"),
    ]
    assert parse_message(bytes(ringing)) == ringing
    trying = make_response(request, 100)
    assert trying.headers["Timestamp"] == "54"
    assert "Timestamp" not in make_response(request, 200).headers
    assert make_response(request, 299).reason == "Success"
    assert make_response(request, 486, "Busy, call later").reason == "Busy, call later"
    in_dialog = make_response(
        SipRequest(request.method, request.uri, Headers(request.headers.items()), b""),
        200,
        to_tag="x",
    )
    assert in_dialog.to.tag == "x"
    request.headers.set("To", "<sip:bob@example.com>;tag=existing")
    assert make_response(request, 200, to_tag="other").to.tag == "existing"
    request.method = "ACK"
    with pytest.raises(ValueError, match="never answered"):
        make_response(request, 200)
    assert reason_phrase(404) == "Not Found" and reason_phrase(499) == "Client Error"


# ---------------------------------------------------------------------------------------------
# Stream framing


def _stream(*messages: SipMessage) -> bytes:
    return b"\r\n\r\n".join(bytes(m) for m in messages)


def test_stream_parser_frames_by_content_length() -> None:
    a, b = parse_message(MPART01), parse_message(UNREASON)
    data = b"\r\n" + _stream(a, b) + b"\r\n\r\n"
    parser = SipStreamParser()
    assert parser.feed(data) == [a, b]
    assert parser.buffered == 0
    byte_by_byte = SipStreamParser()
    out: list[SipMessage] = []
    for i in range(len(data)):
        out += byte_by_byte.feed(data[i : i + 1])
    assert out == [a, b]


def test_stream_parser_keeps_good_messages_around_a_bad_one() -> None:
    good = _request()
    bad = bytes(good).replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE")
    parser = SipStreamParser()
    assert parser.feed(bytes(good) + bad + bytes(good)) == [good]
    with pytest.raises(SipParseError) as excinfo:
        parser.feed(b"")
    assert excinfo.value.reason == "CSeq method INVITE does not match request method OPTIONS"
    assert excinfo.value.response_hint is not None
    assert parser.feed(b"") == [good]
    assert not parser.failed
    with pytest.raises(SipParseError, match="CSeq method"):
        parser.feed(bad)
    assert parser.feed(bytes(good)) == [good]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (wire(_SIMPLE + "\n"), "no Content-Length on a stream transport"),
        (wire(_SIMPLE + "Content-Length: x\n\n"), "bad Content-Length 'x'"),
        (
            wire(_SIMPLE + "Content-Length: 70000\n\n"),
            "Content-Length 70000 exceeds the limit of 65536",
        ),
        (b"OPTIONS " + b"a" * 40000, "headers exceed 32768 bytes"),
    ],
)
def test_stream_framing_errors_are_final(data: bytes, reason: str) -> None:
    parser = SipStreamParser()
    with pytest.raises(SipFramingError) as excinfo:
        parser.feed(data)
    assert excinfo.value.reason == reason
    assert parser.failed
    with pytest.raises(SipFramingError):
        parser.feed(bytes(_request()))


def test_stream_too_large_body_hint_is_513() -> None:
    parser = SipStreamParser(max_body_bytes=10)
    with pytest.raises(SipFramingError) as excinfo:
        parser.feed(wire(_SIMPLE + "Content-Length: 11\n\n"))
    assert excinfo.value.response_hint is not None
    assert excinfo.value.response_hint.response().status == 513


# ---------------------------------------------------------------------------------------------
# Round trips on random messages

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "-.!%*_+`'~"
TOKENS = st.text(alphabet=_TOKEN_ALPHABET, min_size=1, max_size=10)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)
_HOST_LABELS = st.text(alphabet=string.ascii_lowercase + string.digits, max_size=6)
HOSTS = st.one_of(
    st.lists(_HOST_LABELS.map(lambda s: f"h{s}"), min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
SIMPLE_URIS = st.builds(
    SipUri,
    user=st.none() | TEXT.filter(bool),
    host=HOSTS,
    port=st.none() | st.integers(0, 65535),
    params=st.lists(st.tuples(TOKENS, st.none() | TOKENS), max_size=2).map(Params),
)
# Contact's q and expires have their own syntax; leave them out of random parameters.
HEADER_PARAMS = st.lists(
    st.tuples(
        TOKENS.filter(lambda t: t.lower() not in ("q", "expires")),
        st.none() | TOKENS | TEXT.map(quote),
    ),
    max_size=3,
).map(Params)
NAME_ADDRS = st.builds(
    NameAddr, uri=SIMPLE_URIS, display_name=st.none() | TEXT, params=HEADER_PARAMS
)
VIAS = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "WS", "SCTP"]),
    host=HOSTS,
    port=st.none() | st.integers(0, 65535),
    params=st.tuples(TOKENS, st.lists(st.tuples(TOKENS, st.none() | TOKENS), max_size=2)).map(
        lambda t: Params(
            [
                ("branch", "z9hG4bK" + t[0]),
                *(
                    (n, v)
                    for n, v in t[1]
                    if n.lower() not in ("ttl", "maddr", "received", "rport", "branch")
                ),
            ]
        )
    ),
)
EXTENSION_HEADERS = st.lists(st.tuples(TOKENS.map(lambda t: f"X-{t}"), TEXT), max_size=4)


@st.composite
def headers_for(draw: st.DrawFn, method: str) -> Headers:
    fields: list[tuple[str, str]] = [
        ("Via", str(v)) for v in draw(st.lists(VIAS, min_size=1, max_size=3))
    ]
    fields += [
        ("From", str(draw(NAME_ADDRS))),
        ("To", str(draw(NAME_ADDRS))),
        ("Call-ID", draw(TOKENS) + "@" + draw(HOSTS.filter(lambda h: ":" not in h))),
        ("CSeq", str(CSeq(draw(st.integers(0, 2**31 - 1)), method))),
    ]
    optional = [
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
        ("Contact", str(draw(NAME_ADDRS))),
        ("Route", str(draw(NAME_ADDRS))),
        ("Expires", str(draw(st.integers(0, 2**32 - 1)))),
        ("Content-Type", "application/sdp"),
        ("Supported", ", ".join(draw(st.lists(TOKENS, max_size=3)))),
        ("User-Agent", draw(TEXT)),
        (
            "Date",
            format_date(draw(st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)))),
        ),
    ]
    fields += [f for f in optional if draw(st.booleans())]
    fields += draw(EXTENSION_HEADERS)
    return Headers(draw(st.permutations(fields)))


@st.composite
def messages(draw: st.DrawFn) -> SipMessage:
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        method = draw(TOKENS)
        return SipRequest(method, draw(SIMPLE_URIS), draw(headers_for(method)), body)
    reason = draw(TEXT)
    return SipResponse(draw(st.integers(100, 699)), reason, draw(headers_for(draw(TOKENS))), body)


@settings(max_examples=120, deadline=None)
@given(messages())
def test_message_round_trip(message: SipMessage) -> None:
    data = bytes(message)
    assert parse_message(data) == message
    assert bytes(parse_message(data)) == data


@settings(max_examples=40, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_stream_round_trip_in_random_chunks(batch: list[SipMessage], data: st.DataObject) -> None:
    stream = b"".join(b"\r\n" * data.draw(st.integers(0, 2)) + bytes(m) for m in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    parser = SipStreamParser()
    out: list[SipMessage] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += parser.feed(stream[start:end])
    assert out == batch


# ---------------------------------------------------------------------------------------------
# The common-shape fast path and the full validating parser agree. parse_message tries the fast
# path first and falls back to the full parser for anything it does not take; these tests call
# both directly: whatever the fast path returns, the full parser returns too (equal message,
# same bytes), and nothing the fast path accepts is rejected by the full parser.

_COMMON_USER = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/#", min_size=1, max_size=10
)
_ADDR_SPEC_USER = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.!~*'()&=+$/#", min_size=1, max_size=10
)
_URI_PARAM_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.!~*'()[]/:&+$", min_size=1, max_size=8
)
_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", max_size=6).map(
    lambda s: f"a{s}9"
)
COMMON_HOSTS = st.one_of(
    st.lists(_LABEL | st.integers(0, 300).map(str), min_size=1, max_size=3).map(
        lambda labels: ".".join([*labels, "example"])
    ),
    st.ip_addresses(v=4).map(str),
)
_PORT = st.none() | st.integers(0, 65535)
_URI_PARAMS = st.lists(st.tuples(_URI_PARAM_TEXT, st.none() | _URI_PARAM_TEXT), max_size=3)
_HEADER_VALUE_TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + "-.!%*_+`'~:[]", min_size=1, max_size=8
)
_QUOTED = TEXT.map(quote)


def _params_text(params: list[tuple[str, str | None]]) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


@st.composite
def common_uri_texts(draw: st.DrawFn, *, addr_spec: bool = False) -> str:
    user = draw(st.none() | (_ADDR_SPEC_USER if addr_spec else _COMMON_USER))
    userinfo = ""
    if user is not None:
        password = draw(st.none() | st.text(alphabet=string.ascii_letters + "-_.&=+$", max_size=5))
        userinfo = user + ("" if password is None else f":{password}") + "@"
    port = draw(_PORT)
    params = "" if addr_spec else _params_text(draw(_URI_PARAMS))
    scheme = draw(st.sampled_from(["sip", "sips"]))
    return f"{scheme}:{userinfo}{draw(COMMON_HOSTS)}{'' if port is None else f':{port}'}{params}"


_HEADER_PARAMS_COMMON = st.lists(
    st.tuples(
        TOKENS.filter(lambda t: t.lower() not in ("q", "expires")),
        st.none() | _HEADER_VALUE_TEXT | _QUOTED,
    ),
    max_size=3,
)


@st.composite
def common_name_addrs(draw: st.DrawFn, *, contact: bool = False, brackets: bool = False) -> str:
    params = draw(_HEADER_PARAMS_COMMON)
    if contact:
        params += draw(
            st.lists(
                st.tuples(st.sampled_from(["q", "Q"]), st.sampled_from(["0", "0.5", "1.000"]))
                | st.tuples(st.sampled_from(["expires", "EXPIRES"]), st.sampled_from(["0", "60"])),
                max_size=2,
            )
        )
    if not brackets and draw(st.booleans()):
        plain = [(n, v) for n, v in params if v is None or not v.startswith('"')]
        return draw(common_uri_texts(addr_spec=True)) + _params_text(plain)
    display = draw(
        st.one_of(
            st.just(""),
            _QUOTED.map(lambda q: q + " "),
            st.lists(TOKENS, min_size=1, max_size=3).map(lambda w: " ".join(w) + " "),
        )
    )
    return f"{display}<{draw(common_uri_texts())}>{_params_text(params)}"


@st.composite
def common_vias(draw: st.DrawFn) -> str:
    port = draw(_PORT)
    params = [("branch", "z9hG4bK" + draw(TOKENS))]
    params += draw(
        st.lists(
            st.one_of(
                st.just(("rport", None)),
                st.integers(0, 65535).map(lambda p: ("rport", str(p))),
                st.ip_addresses(v=4).map(lambda a: ("received", str(a))),
                st.tuples(
                    TOKENS.filter(
                        lambda t: t.lower() not in ("ttl", "maddr", "received", "rport", "branch")
                    ),
                    st.none() | _HEADER_VALUE_TEXT,
                ),
            ),
            max_size=3,
        )
    )
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS", "SCTP"]))
    host = draw(COMMON_HOSTS) + ("" if port is None else f":{port}")
    return f"SIP/2.0/{transport} {host}{_params_text(draw(st.permutations(params)))}"


_NAMES = {
    "Via": ["Via", "v", "VIA", "via"],
    "From": ["From", "f", "from"],
    "To": ["To", "t", "TO"],
    "Call-ID": ["Call-ID", "i", "call-id"],
    "CSeq": ["CSeq", "cseq", "CSEQ"],
    "Contact": ["Contact", "m"],
    "Content-Length": ["Content-Length", "l", "content-length"],
    "Content-Type": ["Content-Type", "c"],
}


@st.composite
def common_messages(draw: st.DrawFn) -> bytes:
    """A message of the shape the fast path takes, with header names spelled in any of the
    usual ways and fields in random order."""

    def name(canonical: str) -> str:
        return draw(st.sampled_from(_NAMES.get(canonical, [canonical])))

    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "REGISTER", "OPTIONS"]) | TOKENS)
    lines = [(name("Via"), v) for v in draw(st.lists(common_vias(), min_size=1, max_size=3))]
    if draw(st.booleans()) and len(lines) > 1:  # several Via values on one line
        lines = [(lines[0][0], ", ".join(v for _, v in lines))]
    lines += [
        (name("From"), draw(common_name_addrs())),
        (name("To"), draw(common_name_addrs())),
        (name("Call-ID"), draw(TOKENS) + draw(st.sampled_from(["", "@host.example"]))),
        (name("CSeq"), f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    optional: list[tuple[str, st.SearchStrategy[str]]] = [
        ("Max-Forwards", st.integers(0, 255).map(str)),
        (name("Contact"), common_name_addrs(contact=True) | st.just("*")),
        ("Route", common_name_addrs(brackets=True)),
        ("Record-Route", common_name_addrs(brackets=True)),
        ("Expires", st.integers(0, 2**32 - 1).map(str)),
        (name("Content-Type"), st.sampled_from(["application/sdp", "text/plain;a=b"])),
        ("Allow", st.lists(TOKENS, min_size=1, max_size=4).map(", ".join)),
        ("User-Agent", TEXT),
    ]
    lines += [(n, draw(values)) for n, values in optional if draw(st.booleans())]
    lines += draw(EXTENSION_HEADERS)
    lines = draw(st.permutations(lines))
    if draw(st.booleans()):
        start = f"{method} {draw(common_uri_texts())} SIP/2.0"
    else:
        status = draw(st.integers(100, 699))
        start = f"SIP/2.0 {status} {draw(TEXT)}"
    body = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        lines.append((name("Content-Length"), str(len(body))))
    head = "\r\n".join([start, *(f"{n}: {v}" for n, v in lines)])
    return head.encode() + b"\r\n\r\n" + body


def _outcome(parse: Callable[[bytes], SipMessage], data: bytes) -> object:
    try:
        return parse(data)
    except SipParseError as exc:
        return type(exc), exc.reason, exc.response_hint


@settings(max_examples=50, deadline=None)
@given(common_messages())
def test_fast_path_takes_common_messages_and_agrees_with_the_full_parser(data: bytes) -> None:
    fast = _parse_common(data)
    full = _parse_full(data)
    assert fast is not None
    assert fast == full
    assert bytes(fast) == bytes(full)
    assert parse_message(bytes(fast)) == fast
    # the typed readers give the same values whichever parser produced the message
    for typed in ("via", "from_", "to", "cseq", "contact", "route", "content_type", "allow"):
        assert getattr(fast, typed) == getattr(full, typed)


@settings(max_examples=40, deadline=None)
@given(messages())
def test_fast_path_agrees_with_the_full_parser_on_random_messages(message: SipMessage) -> None:
    data = bytes(message)
    fast = _parse_common(data)
    assert fast is None or (fast == _parse_full(data) and bytes(fast) == data)


_INTERESTING = ':;,<>"\\ \t%@[]=?*/.-_~+!#()&$0123456789aZ\x00\x7fé'


@st.composite
def mutated_common_messages(draw: st.DrawFn) -> bytes:
    data = draw(common_messages())
    head_end = data.index(b"\r\n\r\n")
    text = data[:head_end].decode()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text) - 1))
        action = draw(st.integers(0, 3))
        if action == 0:  # replace a character with one that means something to SIP
            text = text[:at] + draw(st.sampled_from(_INTERESTING)) + text[at + 1 :]
        elif action == 1:  # insert one
            text = text[:at] + draw(st.sampled_from(_INTERESTING)) + text[at:]
        elif action == 2:  # delete a few characters
            text = text[:at] + text[at + draw(st.integers(1, 4)) :]
        else:  # duplicate a slice (a repeated parameter, header or separator)
            text = text[:at] + text[at : at + draw(st.integers(1, 30))] + text[at:]
    return text.encode() + data[head_end:]


@settings(max_examples=200, deadline=None)
@given(mutated_common_messages())
def test_fast_path_never_accepts_what_the_full_parser_rejects(data: bytes) -> None:
    fast = _parse_common(data)
    if fast is not None:
        assert _parse_full(data) == fast
    assert _outcome(parse_message, data) == _outcome(_parse_full, data)


@settings(max_examples=15, deadline=None)
@given(st.lists(common_messages(), min_size=1, max_size=3), st.data())
def test_stream_parser_fast_path_agrees_with_the_full_parser(
    batch: list[bytes], data: st.DataObject
) -> None:
    framed = [m if b"\r\nContent-Length:" in m else bytes(_parse_full(m)) for m in batch]
    stream = b"".join(framed)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    parser = SipStreamParser()
    out: list[SipMessage] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += parser.feed(stream[start:end])
    assert out == [_parse_full(m) for m in framed]


# Typed values: each parser's common-shape path gives what its full parser gives, or leaves
# the value to it (same value, or same error).

_TYPED: list[tuple[str, Callable[[str], object], Callable[[str], object]]] = [
    ("via", Via.parse, Via._parse_full),
    ("name-addr", NameAddr.parse, NameAddr._parse_full),
    (
        "route",
        lambda t: NameAddr.parse(t, brackets=True),
        lambda t: NameAddr._parse_full(t, brackets=True),
    ),
    ("cseq", CSeq.parse, CSeq._parse_full),
    ("media type", MediaType.parse, MediaType._parse_full),
]


def _value_outcome(parse: Callable[[str], object], text: str) -> object:
    try:
        return parse(text)
    except SipParseError as exc:
        return exc.reason


@st.composite
def typed_texts(draw: st.DrawFn) -> str:
    text = draw(
        st.one_of(
            common_vias(),
            common_name_addrs(),
            common_name_addrs(contact=True),
            st.builds(lambda n, m: f"{n} {m}", st.integers(0, 2**32), TOKENS),
            st.sampled_from(["application/sdp", 'text/plain;charset="utf-8"', "a/b;c;d=e"]),
            VIAS.map(str),
            NAME_ADDRS.map(str),
        )
    )
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(_INTERESTING)) + text[at + 1 :]
        else:
            text = text[:at] + text[at : at + draw(st.integers(1, 12))] + text[at:]
    return text


@settings(max_examples=200, deadline=None)
@given(typed_texts())
def test_typed_parsers_fast_paths_agree_with_the_full_parsers(text: str) -> None:
    for _, parse, full in _TYPED:
        assert _value_outcome(parse, text) == _value_outcome(full, text)


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1",
        "SIP/2.0/UDP 1.2.3;branch=z9hG4bK1",
        "SIP/2.0/UDP 01.2.3.4;branch=z9hG4bK1",
        "SIP/2.0/UDP 256.1.1.1;branch=z9hG4bK1",
        "SIP/2.0/UDP 1.2.3.4.;branch=z9hG4bK1",
        "SIP/2.0/UDP 1-2.example:65535;rport=65536",
        "SIP/2.0/UDP h:00080;branch=z9hG4bK1;RPORT;Received=192.0.2.1",
        "SIP/2.0/UDP h;branch;rport",
        "SIP/2.0/UDP h;ttl=1;maddr=224.0.0.1",
        "SIP/2.0/UDP h;received=example.com",
        "SIP/2.0/UDP a-.example;branch=x",
        "SIP/2.0/UDP _sip.example;branchy=x;branch=z9hG4bK",
        '"A \\"B\\"" <sip:a@b>;tag=1',
        "A  B\t<sip:a@b>",
        '<sip:a@b>;x="<";tag=2',
        'sip:a@b;x="<"',
        "sip:a;b@c",
        "sip:a@b?c",
        "sip:a@b:5060;tag=1",
        "<sip:a:@b;lr>",
        "<sip:#1@b>",
        "<sip:a@b>;q=2;expires=x",
        "<sip:a@b>;q=0.5;q",
        "0009 INVITE",
        "2147483648 INVITE",
        "1\tINVITE",
        'application/sdp;charset="x\\"',
    ],
)
def test_typed_parsers_on_edge_shapes(text: str) -> None:
    for _, parse, full in _TYPED:
        assert _value_outcome(parse, text) == _value_outcome(full, text)


def test_status_codes_above_699_are_a_parse_error() -> None:
    data = wire("SIP/2.0 700 Too High\n" + _SIMPLE[36:] + "\n")
    with pytest.raises(SipParseError) as excinfo:
        parse_message(data)
    assert excinfo.value.reason == "bad status code 700"


_HEAD_OK = wire(  # a request head without its To
    "OPTIONS sip:bob@example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\n"
    "From: <sip:alice@example.com>;tag=1\n"
    "Call-ID: worst@example.com\n"
    "CSeq: 1 OPTIONS\n"
)
_TO_OK = b"To: <sip:bob@example.com>\r\n\r\n"
_FAST_WORST_CASES = {
    "label of dashes": _HEAD_OK + b"To: <sip:a@a" + b"-" * 60_000 + b">\r\n\r\n",
    "display words": _HEAD_OK + b"To: " + b"a " * 30_000 + b"<sip:a@b>\r\n\r\n",
    "via params": _HEAD_OK.replace(b"z9hG4bK1", b"z9hG4bK1" + b";rport" * 10_000) + _TO_OK,
    "digits and dots": _HEAD_OK + b"To: <sip:a@" + b"1." * 30_000 + b">\r\n\r\n",
    "user part": _HEAD_OK.replace(b"sip:bob@", b"sip:" + b"a;" * 30_000 + b"b@", 1) + _TO_OK,
    "quoted display": _HEAD_OK + b'To: "' + b"\\a" * 30_000 + b'" <sip:a@b>\r\n\r\n',
    "many fields": _HEAD_OK + b"X-A: y\r\n" * 8_000 + _TO_OK,
    "long list": _HEAD_OK + b"Allow: " + b"A," * 30_000 + b"B\r\n" + _TO_OK,
}


@pytest.mark.parametrize("name", sorted(_FAST_WORST_CASES))
def test_fast_path_takes_bounded_time_on_crafted_inputs(name: str) -> None:
    data = _FAST_WORST_CASES[name]
    # linear work on 64 KB takes milliseconds; backtracking patterns would stall the suite
    assert _outcome(parse_message, data) == _outcome(_parse_full, data)
