//! Frames on the wire of a namespace's interface: an `AF_PACKET` socket
//! bound to one device sends hand-built frames out of it and reads what
//! arrives, as tcpdump would. Nothing is set on the device.

use std::{
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::{Duration, Instant},
};

use crate::netns::Netns;

/// ETH_P_ALL, in network order for `socket` and `sockaddr_ll`.
const ETH_P_ALL: u16 = 0x0003;

/// A packet socket on one device of a namespace.
pub struct Wire {
    fd: OwnedFd,
    ifindex: i32,
    /// The device's MAC address.
    pub mac: [u8; 6],
}

impl Wire {
    /// Opens a packet socket on `dev` in `ns`.
    ///
    /// # Panics
    /// When the device or the socket cannot be had.
    #[must_use]
    pub fn open(ns: &Netns, dev: &'static str) -> Self {
        let mac = crate::flood::mac(ns, dev);
        let (fd, ifindex) = ns.run(move || {
            let name = std::ffi::CString::new(dev).expect("name");
            // SAFETY: plain libc calls; the fd is owned below.
            unsafe {
                let ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
                assert!(ifindex != 0, "no {dev}");
                let fd = libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW,
                    i32::from(ETH_P_ALL.to_be()),
                );
                assert!(
                    fd >= 0,
                    "packet socket: {}",
                    std::io::Error::last_os_error()
                );
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_protocol = ETH_P_ALL.to_be();
                sll.sll_ifindex = ifindex;
                let rc = libc::bind(
                    fd,
                    (&raw const sll).cast(),
                    size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
                (OwnedFd::from_raw_fd(fd), ifindex)
            }
        });
        Self { fd, ifindex, mac }
    }

    /// Sends `frame` out of the device as it is.
    ///
    /// # Panics
    /// When the send fails.
    pub fn send(&self, frame: &[u8]) {
        // SAFETY: a bound packet socket and a valid buffer.
        let n = unsafe {
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = self.ifindex;
            sll.sll_halen = 6;
            sll.sll_addr[..6].copy_from_slice(&frame[..6]);
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const sll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The first frame received (not sent) by the device within `wait`
    /// for which `want` holds.
    #[must_use]
    pub fn recv(&self, wait: Duration, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let t0 = Instant::now();
        let mut buf = vec![0u8; 2048];
        while let Some(left) = wait.checked_sub(t0.elapsed()) {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&raw mut pfd, 1, ms) } <= 0 {
                continue;
            }
            // SAFETY: a valid buffer and address of the right sizes.
            let (n, sll) = unsafe {
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                let mut len = size_of::<libc::sockaddr_ll>() as u32;
                let n = libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&raw mut sll).cast(),
                    &raw mut len,
                );
                (n, sll)
            };
            if n <= 0 || sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let frame = &buf[..n as usize];
            if want(frame) {
                return Some(frame.to_vec());
            }
        }
        None
    }
}
